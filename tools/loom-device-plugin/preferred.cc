// preferred.cc - NUMA-aware preferred allocation (preferred.h).
#include "preferred.h"

#include <algorithm>
#include <set>

namespace loomdp
{

namespace
{

int NodeOf(const std::map<std::string, int> &numa, const std::string &id)
{
    auto it = numa.find(id);
    return it == numa.end() ? -1 : it->second;
}

// The node to fill first: the @must cards' common node, else the best fit for @need.
int FirstNode(const std::map<int, std::vector<std::string>> &free_by_node,
              const std::set<int> &must_nodes, size_t need)
{
    if (must_nodes.size() == 1)
        return *must_nodes.begin();
    if (!must_nodes.empty())
        return -2; // already split across nodes: no node comes first
    int best = -2;
    size_t best_free = 0;
    for (const auto &[node, ids] : free_by_node)
        if (ids.size() >= need && (best == -2 || ids.size() < best_free)) {
            best = node;
            best_free = ids.size();
        }
    return best;
}

void Take(std::vector<std::string> &out, const std::vector<std::string> &ids, size_t size)
{
    for (const auto &id : ids)
        if (out.size() < size && std::find(out.begin(), out.end(), id) == out.end())
            out.push_back(id);
}

} // namespace

std::vector<std::string> PreferredCards(const std::vector<std::string> &available,
                                        const std::vector<std::string> &must, int size,
                                        const std::map<std::string, int> &numa)
{
    std::vector<std::string> out;
    std::set<int> must_nodes;
    for (const auto &id : must)
        if (std::find(out.begin(), out.end(), id) == out.end()) {
            out.push_back(id);
            must_nodes.insert(NodeOf(numa, id));
        }
    size_t want = size > 0 ? static_cast<size_t>(size) : 0;
    if (out.size() >= want)
        return out;
    std::map<int, std::vector<std::string>> free_by_node;
    std::vector<std::string> sorted(available);
    std::sort(sorted.begin(), sorted.end());
    for (const auto &id : sorted)
        if (std::find(out.begin(), out.end(), id) == out.end())
            free_by_node[NodeOf(numa, id)].push_back(id);
    int first = FirstNode(free_by_node, must_nodes, want - out.size());
    if (free_by_node.count(first))
        Take(out, free_by_node[first], want);
    // The rest from the fullest nodes, so the allocation spans as few as it can.
    std::vector<std::pair<int, std::vector<std::string>>> rest(free_by_node.begin(),
                                                               free_by_node.end());
    std::stable_sort(rest.begin(), rest.end(), [](const auto &a, const auto &b) {
        return a.second.size() > b.second.size();
    });
    for (const auto &[node, ids] : rest)
        Take(out, ids, want);
    return out;
}

} // namespace loomdp
