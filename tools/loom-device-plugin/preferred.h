// preferred.h - which cards to give a container: the plugin's answer to the
// kubelet's GetPreferredAllocation.
#ifndef LOOM_DEVICE_PLUGIN_PREFERRED_H
#define LOOM_DEVICE_PLUGIN_PREFERRED_H

#include <map>
#include <string>
#include <vector>

namespace loomdp
{

// @size cards out of @available, every one of @must among them, on one NUMA
// node when one node can hold them all: the node of the @must cards if they
// share one, else the node with the fewest free cards that still fits (so
// larger requests later still find a whole node). What one node cannot hold
// comes from the nodes with the most free cards. @numa maps bus ids to nodes
// (missing: -1). Ties break by bus id, so the answer is deterministic.
std::vector<std::string> PreferredCards(const std::vector<std::string> &available,
                                        const std::vector<std::string> &must, int size,
                                        const std::map<std::string, int> &numa);

} // namespace loomdp

#endif
