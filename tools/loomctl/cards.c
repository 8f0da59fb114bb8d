/*
 * cards.c - `loomctl program CARD FILE`: loads an xclbin onto a Loom card
 * through its shim (programming has no place in the runtime API: the runtime
 * programs the default xclbin itself when a card has none of its CUs).
 */
#include <stdio.h>
#include <string.h>

#include "fpga/shim.h"
#include "loomctl.h"

#define MAX_CARDS 32

static void uuid_str(const uint8_t *u, char *buf, size_t len)
{
    snprintf(buf, len, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
             u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
             u[14], u[15]);
}

int loomctl_program(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: loomctl program CARD FILE.xclbin\n");
        return 2;
    }
    lm_card *cards[MAX_CARDS];
    int n = 0, rc = 1;
    if (lm_cards_open_all(0, cards, MAX_CARDS, &n)) {
        fprintf(stderr, "loomctl program: %s\n", loom_last_error());
        return 1;
    }
    lm_card *card = NULL;
    for (int i = 0; i < n; i++)
        if (strcmp(cards[i]->name, argv[0]) == 0)
            card = cards[i];
    if (!card) {
        fprintf(stderr, "loomctl program: no card '%s' (see loomctl examine)\n", argv[0]);
    } else if (lm_card_program_file(card, argv[1])) {
        fprintf(stderr, "loomctl program: %s: %s\n", argv[0], loom_last_error());
    } else {
        lm_card_info info;
        if (!lm_card_info_get(card, &info)) {
            char uuid[40];
            uuid_str(info.xclbin_uuid, uuid, sizeof(uuid));
            printf("%s: loaded %s (xclbin %s, %d compute units)\n", argv[0], argv[1], uuid,
                   info.n_cus);
        }
        rc = 0;
    }
    for (int i = 0; i < n; i++)
        lm_card_close(cards[i]);
    return rc;
}
