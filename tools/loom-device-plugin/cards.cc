// cards.cc - Loom cards from sysfs (cards.h).
#include "cards.h"

#include <dirent.h>
#include <sys/stat.h>

#include <cctype>
#include <fstream>
#include <sstream>

namespace loomdp
{

namespace
{

// A second without a move is a hundred missed beats: the firmware stopped.
constexpr std::chrono::milliseconds kStallLimit{1000};

// The entries of directory @path (without . and ..); empty if it cannot be read.
std::vector<std::string> ListDir(const std::string &path)
{
    std::vector<std::string> names;
    DIR *d = opendir(path.c_str());
    if (!d)
        return names;
    for (struct dirent *de = readdir(d); de; de = readdir(d))
        if (de->d_name[0] != '.')
            names.push_back(de->d_name);
    closedir(d);
    return names;
}

// The first line of file @path, or false if it cannot be read (an unplugged
// card's attributes fail with ENODEV).
bool ReadLine(const std::string &path, std::string *out)
{
    std::ifstream f(path);
    return f && std::getline(f, *out) && !out->empty();
}

bool Exists(const std::string &path)
{
    struct stat st;
    return stat(path.c_str(), &st) == 0;
}

} // namespace

bool IsBusId(const std::string &n)
{
    static const char shape[] = "xxxx:xx:xx.x";
    if (n.size() != sizeof(shape) - 1)
        return false;
    for (size_t i = 0; i < n.size(); i++)
        if (shape[i] == 'x' ? !std::isxdigit(static_cast<unsigned char>(n[i])) : n[i] != shape[i])
            return false;
    return true;
}

// Reads card @bdf's node, NUMA node and health into @card; false if its
// sysfs directory is gone.
bool CardScanner::Probe(const std::string &bdf, Card *card)
{
    const std::string dev = root_ + "/sys/bus/pci/devices/" + bdf;
    if (!Exists(dev))
        return false;
    card->bdf = bdf;
    // loom.ko registers a DRM accel node; an older kernel gives a render node.
    for (const char *cls : {"accel", "drm"})
        for (const auto &n : ListDir(dev + "/" + cls))
            if (card->node.empty() && (n.rfind("accel", 0) == 0 || n.rfind("renderD", 0) == 0))
                card->node = std::string(cls[0] == 'a' ? "/dev/accel/" : "/dev/dri/") + n;
    std::string v;
    if (ReadLine(dev + "/numa_node", &v))
        card->numa = std::atoi(v.c_str());
    std::string beat;
    bool alive = ReadLine(dev + "/loom/heartbeat", &beat);
    auto now = std::chrono::steady_clock::now();
    auto it = heartbeat_.find(bdf);
    if (alive && (it == heartbeat_.end() || it->second.value != beat))
        heartbeat_[bdf] = Beat{beat, now};
    bool beating = alive && now - heartbeat_[bdf].moved < kStallLimit;
    card->healthy = beating && !card->node.empty() && Exists(root_ + card->node);
    return true;
}

std::vector<Card> CardScanner::Scan()
{
    for (const auto &name : ListDir(root_ + "/sys/bus/pci/drivers/loom"))
        if (IsBusId(name))
            known_[name].bdf = name;
    std::vector<Card> cards;
    for (auto &[bdf, card] : known_) {
        Card now;
        if (!Probe(bdf, &now)) {
            now = card; // unplugged: keep what was known, unhealthy
            now.healthy = false;
            heartbeat_.erase(bdf);
        }
        card = now;
        cards.push_back(now);
    }
    return cards;
}

} // namespace loomdp
