/* visible.h - LOOM_VISIBLE_CARDS: the cards this process may use. */
#ifndef LOOM_FPGA_VISIBLE_H
#define LOOM_FPGA_VISIBLE_H

#include <stdbool.h>

#include "fpga/shim.h"

/*
 * Whether @card is listed in $LOOM_VISIBLE_CARDS: a comma-separated list of
 * card indices (3 for card:3), device names (card:3, xrt:0) and PCI bus ids
 * (0000:3b:00.0, or 3b:00.0 in domain 0). Unset: every card; set but empty:
 * none. The Kubernetes device plugin sets it to the cards a pod was given;
 * hidden cards are never registered, so nothing (loomctl examine included)
 * sees them, and the visible ones keep their card:N names.
 */
bool lm_card_visible(lm_card *card);
/* Whether list @list (that syntax) names card @name at PCI address @pci ("-": none). */
bool lm_cards_list_names(const char *list, const char *name, const char *pci);

#endif
