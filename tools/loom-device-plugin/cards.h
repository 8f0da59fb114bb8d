// cards.h - the Loom cards loom.ko drives, read from sysfs under a root
// directory ("/" on a node, a fake tree in tests).
#ifndef LOOM_DEVICE_PLUGIN_CARDS_H
#define LOOM_DEVICE_PLUGIN_CARDS_H

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace loomdp
{

struct Card {
    std::string bdf;  // PCI bus id, "0000:3b:00.0": the device plugin's device ID
    std::string node; // device node as the host names it ("/dev/accel/accel0"), or ""
    int numa = -1;    // NUMA node of the PCI device; -1 when the platform has none
    bool healthy = false;
    bool operator==(const Card &o) const
    {
        return bdf == o.bdf && node == o.node && numa == o.numa && healthy == o.healthy;
    }
};

// Scans ROOT/sys/bus/pci/drivers/loom for cards. A card is healthy while its
// device node exists and its heartbeat register (ROOT/sys/bus/pci/devices/BDF/
// loom/heartbeat, which the firmware advances at least every 10 ms) reads and
// has moved within the last second; a card whose heartbeat stopped is dead,
// one whose sysfs directory went away is unplugged, and both stay listed as
// unhealthy, so the kubelet stops placing pods on them.
class CardScanner
{
  public:
    explicit CardScanner(std::string root) : root_(std::move(root)) {}
    // Every card seen so far, sorted by bus id, with its health now.
    std::vector<Card> Scan();

  private:
    bool Probe(const std::string &bdf, Card *card);
    std::string root_;
    std::map<std::string, Card> known_;
    struct Beat {
        std::string value;                           // last heartbeat read
        std::chrono::steady_clock::time_point moved; // when it last changed
    };
    std::map<std::string, Beat> heartbeat_; // per bus id
};

// Whether @name looks like a PCI bus id (DDDD:BB:DD.F).
bool IsBusId(const std::string &name);

} // namespace loomdp

#endif
