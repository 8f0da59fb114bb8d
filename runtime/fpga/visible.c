/* visible.c - filters discovered cards by $LOOM_VISIBLE_CARDS (visible.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/env.h"
#include "core/error.h"
#include "fpga/visible.h"

/* Whether list entry @tok names the card called @name at PCI address @pci ("-" if none). */
static bool token_matches(const char *tok, const char *name, const char *pci)
{
    if (tok[0] && strspn(tok, "0123456789") == strlen(tok)) {
        char want[32];
        snprintf(want, sizeof(want), "card:%s", tok);
        return strcmp(want, name) == 0;
    }
    if (strcmp(tok, name) == 0)
        return true;
    if (strcmp(pci, "-") == 0 || !strchr(tok, '.'))
        return false;
    /* A bus id without its domain means domain 0000, as lspci prints it. */
    size_t lt = strlen(tok), lp = strlen(pci);
    if (lt == lp)
        return strcasecmp(tok, pci) == 0;
    return lp == lt + 5 && strncmp(pci, "0000:", 5) == 0 && strcasecmp(tok, pci + 5) == 0;
}

bool lm_cards_list_names(const char *list, const char *name, const char *pci)
{
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", list);
    char *save = NULL;
    for (char *t = strtok_r(buf, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save))
        if (token_matches(t, name, pci))
            return true;
    return false;
}

bool lm_card_visible(lm_card *card)
{
    if (!lm_env_is_set(LM_ENV_VISIBLE_CARDS))
        return true;
    const char *list = lm_env_str(LM_ENV_VISIBLE_CARDS);
    if (!list)
        return false; /* set but empty: no card, as CUDA_VISIBLE_DEVICES= means no GPU */
    /* The info carries the CU table: keep it off the stack. */
    lm_card_info *info = malloc(sizeof(*info));
    const char *pci = "-";
    if (info && lm_card_info_get(card, info) == LOOM_OK)
        pci = info->pci;
    else
        lm_error_clear(); /* unreadable: matched by name only */
    bool v = lm_cards_list_names(list, card->name, pci);
    free(info);
    return v;
}
