/* cards.c - finding cards across the shims, naming them, loading xclbins. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/env.h"
#include "core/error.h"
#include "shim.h"

#ifndef LOOM_BITSTREAM_DIR
#define LOOM_BITSTREAM_DIR "/usr/local/share/loom/bitstreams"
#endif
#ifndef LOOM_BUILD_BITSTREAM_DIR
#define LOOM_BUILD_BITSTREAM_DIR ""
#endif

/* The emulated card's xclbin in the build tree, then installed. */
#define DEFAULT_XCLBIN "loom-emu.xclbin"

const char *lm_card_default_xclbin(void)
{
    static __thread char path[4096];
    const char *env = lm_env_str(LM_ENV_XCLBIN);
    if (env)
        return access(env, R_OK) == 0 ? env : NULL;
    const char *dirs[] = {lm_env_str(LM_ENV_BITSTREAM_DIR), LOOM_BUILD_BITSTREAM_DIR,
                          LOOM_BITSTREAM_DIR};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        if (!dirs[i] || !*dirs[i])
            continue;
        snprintf(path, sizeof(path), "%s/%s", dirs[i], DEFAULT_XCLBIN);
        if (access(path, R_OK) == 0)
            return path;
    }
    return NULL;
}

loom_status lm_card_program_file(lm_card *card, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return lm_error(LOOM_ERR_IO, "cannot open xclbin '%s'", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (len <= 0 || len > (64l << 20)) {
        fclose(f);
        return lm_error(LOOM_ERR_IO, "xclbin '%s': size %ld is out of range", path, len);
    }
    void *buf = malloc((size_t)len);
    if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        fclose(f);
        return lm_error(LOOM_ERR_IO, "cannot read xclbin '%s'", path);
    }
    fclose(f);
    loom_status s = card->ops->program(card, buf, (size_t)len);
    free(buf);
    if (s) {
        lm_error_prefix("%s", path);
        return s;
    }
    snprintf(card->xclbin, sizeof(card->xclbin), "%s", path);
    return LOOM_OK;
}

loom_status lm_cards_open_all(int emulated, lm_card **cards, int max, int *n)
{
    loom_status s = lm_card_kernel_open_all(cards, max, n);
    if (emulated == 0)
        emulated = lm_card_emulated_count();
    if (!s && emulated > 0) {
        int first = *n;
        s = lm_card_emulated_open(emulated, cards, max, n);
        /* An emulated card comes up with the default xclbin (if built). */
        const char *path = lm_card_default_xclbin();
        for (int i = first; i < *n && path && !s; i++)
            if (lm_card_program_file(cards[i], path))
                lm_error_clear(); /* the device tries again at first use, and says why */
    }
    if (!s)
        s = lm_card_xrt_open_all(cards, max, n);
    return s;
}
