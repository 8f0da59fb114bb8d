/*
 * cards.c - loomctl's Loom-card commands: the cards section of `examine`,
 * and `program CARD FILE`.
 */
#include <stdio.h>
#include <string.h>

#include "../../hls/loom_cu.h"
#include "fpga/shim.h"
#include "loomctl.h"

#define MAX_CARDS 32

static void uuid_str(const uint8_t *u, char *buf, size_t len)
{
    snprintf(buf, len, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
             u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
             u[14], u[15]);
}

/* The modelled peak of one CU kind (hls/loom_cu.h's cycle model). */
static void cu_peak(uint32_t kind, char *buf, size_t len)
{
    double mhz = LOOM_CU_CLOCK_MHZ;
    if (kind == LOOM_CU_KIND_QGEMM || kind == LOOM_CU_KIND_QCONV)
        snprintf(buf, len, "modelled peak %.1f GMAC/s (%ux%u MACs at %u MHz)",
                 LOOM_CU_TM * LOOM_CU_TN * mhz / 1000.0, LOOM_CU_TM, LOOM_CU_TN, LOOM_CU_CLOCK_MHZ);
    else if (kind == LOOM_CU_KIND_POOL || kind == LOOM_CU_KIND_QADD)
        snprintf(buf, len, "modelled peak %.1f Gelem/s (%u lanes at %u MHz)",
                 LOOM_CU_LANES * mhz / 1000.0, LOOM_CU_LANES, LOOM_CU_CLOCK_MHZ);
    else
        buf[0] = 0;
}

void loomctl_examine_cards(void)
{
    lm_card *cards[MAX_CARDS];
    int n = 0;
    if (lm_cards_open_all(0, cards, MAX_CARDS, &n))
        fprintf(stderr, "loomctl examine: cards: %s\n", loom_last_error());
    printf("Loom cards (loom.ko, emulated: LOOM_EMULATED_CARDS=%d, XRT): %d\n",
           lm_card_emulated_count(), n);
    for (int i = 0; i < n; i++) {
        lm_card_info info;
        if (lm_card_info_get(cards[i], &info)) {
            printf("  %s  unavailable: %s\n", cards[i]->name, loom_last_error());
            continue;
        }
        char uuid[40];
        printf("  %s  %s (%s%s%s)\n", cards[i]->name, info.board, info.driver,
               info.node[0] ? ", " : "", info.node);
        printf("    pci:            %s, NUMA node %d\n", info.pci, info.numa_node);
        printf("    memory:         %.1f MiB device memory, %.1f MiB in use\n",
               (double)info.mem_total / 1048576.0, (double)info.mem_used / 1048576.0);
        printf("    interface:      %u.%u\n", info.interface_version >> 16,
               info.interface_version & 0xffff);
        const char *state = info.status & LM_CARD_DEAD    ? "DEAD"
                            : info.status & LM_CARD_READY ? "ready"
                                                          : "not ready";
        printf(
            "    health:         %s%s, %.1f C, %.1f W, heartbeat %u, %llu commands, %llu errors, "
            "%llu resets\n",
            state, info.status & LM_CARD_PROGRAMMED ? ", programmed" : "", info.temp_mc / 1000.0,
            info.power_mw / 1000.0, info.heartbeat, (unsigned long long)info.commands,
            (unsigned long long)info.errors, (unsigned long long)info.resets);
        uuid_str(info.xclbin_uuid, uuid, sizeof(uuid));
        if (info.status & LM_CARD_PROGRAMMED)
            printf("    xclbin:         %s%s%s\n", uuid, info.xclbin[0] ? "  " : "", info.xclbin);
        else
            printf("    xclbin:         none loaded\n");
        printf("    compute units:  %d\n", info.n_cus);
        for (int c = 0; c < info.n_cus; c++) {
            char name[64], peak[96];
            snprintf(name, sizeof(name), "%s", info.cus[c].name);
            char *colon = strchr(name, ':');
            if (colon)
                *colon = 0;
            uint32_t kind = info.cus[c].kind ? info.cus[c].kind : loom_cu_kind_from_name(name);
            cu_peak(kind, peak, sizeof(peak));
            printf("      [%d] %-24s base 0x%llx  kind %u  %s\n", c, info.cus[c].name,
                   (unsigned long long)info.cus[c].base, kind, peak);
        }
    }
    for (int i = 0; i < n; i++)
        lm_card_close(cards[i]);
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
