/* emu_fault.c - reads the emulated card's fault file (emu_fault.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/env.h"
#include "emu_fault.h"

/* Parses one line of the file: a word, and for "slow" its milliseconds. */
static lm_emu_fault parse(const char *line)
{
    lm_emu_fault f = {LM_EMU_FAULT_OK, 0};
    char word[16] = "";
    unsigned ms = 0;
    int n = sscanf(line, "%15s %u", word, &ms);
    if (n < 1)
        return f;
    if (strcmp(word, "hang") == 0)
        f.kind = LM_EMU_FAULT_HANG;
    else if (strcmp(word, "die") == 0)
        f.kind = LM_EMU_FAULT_DIE;
    else if (strcmp(word, "corrupt") == 0)
        f.kind = LM_EMU_FAULT_CORRUPT;
    else if (strcmp(word, "slow") == 0 && n == 2) {
        f.kind = LM_EMU_FAULT_SLOW;
        f.arg_ms = ms;
    }
    return f;
}

lm_emu_fault lm_emu_fault_now(void)
{
    lm_emu_fault ok = {LM_EMU_FAULT_OK, 0};
    const char *path = lm_env_str(LM_ENV_EMULATED_CARD_FAULTS);
    if (!path || !*path)
        return ok;
    FILE *f = fopen(path, "r");
    if (!f)
        return ok;
    char line[64] = "";
    char *got = fgets(line, sizeof(line), f);
    fclose(f);
    return got ? parse(line) : ok;
}

uint32_t lm_emu_timeout_ms(void)
{
    return (uint32_t)lm_env_int(LM_ENV_EMULATED_CARD_TIMEOUT_MS);
}
