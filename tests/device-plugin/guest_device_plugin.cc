// guest_device_plugin.cc - loom-device-plugin inside the kernel tests' QEMU
// guest (tests/kernel/init.sh, init-numa.sh), against loom.ko's real cards:
// the real sysfs and /dev (--root=/) and the fake kubelet of fake_kubelet.h
// on a plugin directory in /tmp. It checks registration, that ListAndWatch
// lists exactly the cards loom.ko drives (ID = bus id, Healthy, the NUMA node
// the guest's firmware gave them), that Allocate hands out their real device
// nodes, and no socket left after SIGTERM. With --kill it also asks the host
// to kill the first card's firmware (LOOM-KILL-CARD, which run-qemu.sh's
// watcher turns into loom-cardsim's SIGUSR2): the card must turn Unhealthy,
// and stay so through loom.ko's failed reset, while the others stay Healthy,
// and turn Healthy again once the firmware restarts (LOOM-RESTART-CARD).
// test_device_plugin.cc covers the rest (preferred allocation, unplug, a
// kubelet restart) on a fake sysfs.
//
//   device-plugin-guest PLUGIN [--kill] CARD...
//     CARD   BDF,NODE,NUMA: a card loom.ko drives, the device node init.sh
//            found for it and the NUMA node it must be reported on ("none"
//            for no topology)
//
// Prints TAP lines "ok N device_plugin.NAME", N from 61 (the numbers init.sh
// leaves free); exits non-zero if any failed. Every wait is bounded.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "fake_kubelet.h"

using namespace std::chrono_literals;
using namespace dptest;

namespace
{

// Generous: under TCG the guest runs several times slower than the host
// (slower still while check-kernel fuzzes beside it), and the host's
// watcher polls the console log every 100 ms. A passing run takes about
// 0.5 s to register, list and allocate, 1.2 s from the kill to Unhealthy and
// 2.5 s more for loom.ko's failed reset.
constexpr auto kStartLimit = 30s;
constexpr auto kHealthLimit = 30s;

int number = 60, failed;

void Tap(bool good, const std::string &name, const std::string &detail = "")
{
    number++;
    failed += !good;
    std::printf("%sok %d device_plugin.%s\n", good ? "" : "not ", number, name.c_str());
    if (!good && !detail.empty())
        std::printf("# %s\n", detail.c_str());
    std::fflush(stdout);
}

struct GuestCard {
    std::string bdf, node, numa;
};

// "BDF,NODE,NUMA" into @c; false if it has not three non-empty fields.
bool ParseCard(const std::string &arg, GuestCard *c)
{
    std::istringstream in(arg);
    std::string extra;
    return std::getline(in, c->bdf, ',') && std::getline(in, c->node, ',') &&
           std::getline(in, c->numa, ',') && !std::getline(in, extra) && !c->bdf.empty() &&
           !c->node.empty() && !c->numa.empty();
}

// The bus ids bound to loom.ko, as the guest's sysfs lists them.
std::set<std::string> BoundCards()
{
    std::set<std::string> ids;
    std::error_code ec;
    for (const auto &e : fs::directory_iterator("/sys/bus/pci/drivers/loom", ec)) {
        std::string n = e.path().filename();
        if (n.size() == 12 && n[4] == ':' && n[7] == ':' && n[10] == '.')
            ids.insert(n);
    }
    return ids;
}

std::string Show(const DeviceList &l)
{
    std::string s;
    for (const auto &[id, state] : l)
        s += (s.empty() ? "" : " ") + id + "=" + state;
    return s.empty() ? "(no list)" : s;
}

bool IsHealthy(const DeviceList &l, const std::string &id)
{
    auto it = l.find(id);
    return it != l.end() && it->second.rfind("Healthy:", 0) == 0;
}

// How many resets loom.ko has done on card @bdf ("resets N" in its sysfs
// loom/jobs), or -1. Counted once the reset finished, failed or not.
long long Resets(const std::string &bdf)
{
    std::istringstream in(ReadAll("/sys/bus/pci/devices/" + bdf + "/loom/jobs"));
    for (std::string key; in >> key;) {
        long long n;
        if (in >> n && key == "resets")
            return n;
    }
    return -1;
}

// Allocate of card @c alone: its node, rw, at the same path, and its bus id.
void CheckAllocate(v1beta1::DevicePlugin::Stub *stub, const GuestCard &c, const std::string &name)
{
    v1beta1::AllocateResponse resp;
    grpc::Status s = Allocate(stub, {{c.bdf}}, &resp);
    std::string got = s.ok() && resp.container_responses_size() == 1
                          ? Describe(resp.container_responses(0))
                          : "error: " + s.error_message();
    std::error_code ec;
    Tap(got == c.node + "->" + c.node + ":rw | " + c.bdf && fs::is_character_file(c.node, ec),
        name + "_allocate_gives_its_device_node_and_bus_id", got);
}

// The host kills card @cards[0]'s firmware and restarts it.
void CheckKillRestart(Watcher &w, v1beta1::DevicePlugin::Stub *stub,
                      const std::vector<GuestCard> &cards)
{
    const std::string &id = cards[0].bdf;
    size_t mark = w.Received();
    long long resets = Resets(id);
    std::printf("LOOM-KILL-CARD\n");
    std::fflush(stdout);
    auto t0 = std::chrono::steady_clock::now();
    bool dead =
        WaitFor([&] { return w.Latest().count(id) && !IsHealthy(w.Latest(), id); }, kHealthLimit);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - t0);
    std::printf("# card0 reported Unhealthy %lld ms after the kill was asked for\n",
                static_cast<long long>(ms.count()));
    Tap(dead && w.Latest()[id].rfind("Unhealthy:", 0) == 0,
        "card0_turns_unhealthy_when_its_firmware_dies", Show(w.Latest()));
    v1beta1::AllocateResponse resp;
    grpc::Status s = Allocate(stub, {{id}}, &resp);
    Tap(s.error_code() == grpc::StatusCode::FAILED_PRECONDITION,
        "card0_allocate_refused_while_unhealthy", s.error_message());

    // loom.ko's watchdog notices too (three missed 500 ms looks) and its
    // reset gets no answer: the card stays dead, and so Unhealthy, whatever
    // the reset did to its registers. Waiting for it also makes the restart
    // below always take the same path, the watchdog's reset of a dead card
    // whose heartbeat came back.
    size_t unhealthy = w.Received() - 1;
    bool reset = WaitFor([&] { return Resets(id) > resets; }, kHealthLimit);
    std::string flapped;
    for (const auto &l : w.Since(unhealthy))
        if (IsHealthy(l, id))
            flapped = Show(l);
    Tap(reset && flapped.empty(), "card0_stays_unhealthy_through_loom_ko_failed_reset",
        "resets " + std::to_string(resets) + " -> " + std::to_string(Resets(id)) + " " + flapped);

    // Always asked for, so that the tests after this one find card 0 alive.
    std::printf("LOOM-RESTART-CARD\n");
    std::fflush(stdout);
    bool back = WaitFor([&] { return IsHealthy(w.Latest(), id); }, kHealthLimit);
    resp.Clear();
    s = Allocate(stub, {{id}}, &resp);
    Tap(back && s.ok(), "card0_turns_healthy_when_its_firmware_restarts",
        Show(w.Latest()) + " " + s.error_message());

    // Every list sent since the kill: the other cards never left service.
    for (size_t i = 1; i < cards.size(); i++) {
        std::string bad;
        for (const auto &l : w.Since(mark))
            if (!IsHealthy(l, cards[i].bdf))
                bad = Show(l);
        Tap(bad.empty(), "card" + std::to_string(i) + "_stays_healthy_while_card0_is_dead", bad);
    }
}

} // namespace

int main(int argc, char **argv)
{
    std::vector<GuestCard> cards;
    bool kill_card0 = false;
    for (int i = 2; i < argc; i++) {
        GuestCard c;
        if (std::string(argv[i]) == "--kill")
            kill_card0 = true;
        else if (ParseCard(argv[i], &c))
            cards.push_back(c);
        else
            argc = 0; // usage
    }
    if (argc < 3 || cards.empty()) {
        std::fprintf(stderr, "usage: device-plugin-guest PLUGIN [--kill] BDF,NODE,NUMA...\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    auto start = std::chrono::steady_clock::now();
    char tmpl[] = "/tmp/loom-dp-guest.XXXXXX";
    fs::path dir = mkdtemp(tmpl);
    FakeKubelet kubelet;
    auto server = StartKubelet(&kubelet, dir / "kubelet.sock");
    pid_t pid = StartPlugin(argv[1], dir, "/");
    bool reg = server && WaitFor([&] { return kubelet.Count() > 0; }, kStartLimit);
    std::string what = reg ? DescribeRegistration(kubelet.requests[0]) : "no registration";
    Tap(what == "v1beta1 loom.sock loom.dev/card preferred", "registers_with_the_kubelet", what);

    auto stub = Connect(dir / "loom.sock");
    {
        Watcher w(stub.get());
        std::set<std::string> want;
        for (const auto &c : cards)
            want.insert(c.bdf);
        auto listed = [&] {
            std::set<std::string> ids;
            DeviceList l = w.Latest();
            for (const auto &c : cards)
                if (!IsHealthy(l, c.bdf))
                    return false;
            for (const auto &d : l)
                ids.insert(d.first);
            return ids == want;
        };
        bool ok = WaitFor(listed, kStartLimit) && BoundCards() == want;
        std::string bound;
        for (const auto &id : BoundCards())
            bound += " " + id;
        Tap(ok, "lists_exactly_the_loom_ko_cards_by_bus_id_healthy",
            "listed " + Show(w.Latest()) + "; bound to loom:" + bound);
        for (size_t i = 0; i < cards.size(); i++) {
            std::string got = w.Latest()[cards[i].bdf];
            std::string name = "card" + std::to_string(i);
            Tap(got.substr(got.find(':') + 1) == cards[i].numa,
                name + "_topology_numa_node_" + cards[i].numa, cards[i].bdf + " " + got);
        }
        for (size_t i = 0; i < cards.size(); i++)
            CheckAllocate(stub.get(), cards[i], "card" + std::to_string(i));
        if (kill_card0)
            CheckKillRestart(w, stub.get(), cards);
    }
    bool exited = StopPlugin(pid, 10s);
    Tap(exited && !fs::exists(dir / "loom.sock"), "sigterm_exits_0_and_removes_its_socket");
    if (server)
        server->Shutdown(std::chrono::system_clock::now() + 1s);
    if (failed) {
        std::istringstream log(ReadAll(dir / "plugin.log"));
        for (std::string line; std::getline(log, line);)
            std::printf("# plugin: %s\n", line.c_str());
    }
    fs::remove_all(dir);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    std::printf("# device_plugin: %d checks, %d failed, in %lld ms\n", number - 60, failed,
                static_cast<long long>(ms.count()));
    return failed ? 1 : 0;
}
