// test_device_plugin.cc - loom-device-plugin, run as the DaemonSet runs it,
// against a fake kubelet (fake_kubelet.h: a Registration gRPC server on
// kubelet.sock, and a DevicePlugin client like the kubelet's) and a fake
// sysfs root with six cards on two NUMA nodes and one without: registration,
// the device stream, health changes (a stopped heartbeat, an unplugged card),
// preferred allocation, allocation, an unknown ID, re-registration after a
// kubelet restart, and no socket left behind. guest_device_plugin.cc runs it
// against loom.ko's real cards in the kernel tests' QEMU guest.
//
//   device-plugin-test build/bin/loom-device-plugin
//
// Prints one ok/FAIL line per check, then "N passed, N failed".
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "fake_kubelet.h"

using namespace std::chrono_literals;
using namespace dptest;

namespace
{

int passed, failed;

void Check(bool good, const std::string &what, const std::string &detail = "")
{
    (good ? passed : failed)++;
    std::printf("%s %s%s\n", good ? "ok  " : "FAIL", what.c_str(),
                good || detail.empty() ? "" : (": " + detail).c_str());
    std::fflush(stdout);
}

// A sysfs and /dev tree as loom.ko makes them, with heartbeats that advance.
class FakeSysfs
{
  public:
    explicit FakeSysfs(fs::path root) : root_(std::move(root)), beater_([this] { Beat(); }) {}
    ~FakeSysfs()
    {
        stop_ = true;
        beater_.join();
    }
    void AddCard(const std::string &bdf, int numa, int accel)
    {
        fs::path dev = root_ / "sys/bus/pci/devices" / bdf;
        fs::create_directories(dev / "loom");
        fs::create_directories(dev / "accel" / ("accel" + std::to_string(accel)));
        std::ofstream(dev / "numa_node") << numa << "\n";
        fs::create_directories(root_ / "sys/bus/pci/drivers/loom");
        fs::create_symlink(dev, root_ / "sys/bus/pci/drivers/loom" / bdf);
        fs::create_directories(root_ / "dev/accel");
        std::ofstream(root_ / "dev/accel" / ("accel" + std::to_string(accel)));
        SetBeating(bdf, true);
    }
    void Unplug(const std::string &bdf)
    {
        SetBeating(bdf, false);
        fs::remove(root_ / "sys/bus/pci/drivers/loom" / bdf);
        fs::remove_all(root_ / "sys/bus/pci/devices" / bdf);
    }
    void SetBeating(const std::string &bdf, bool on)
    {
        std::lock_guard<std::mutex> g(lock_);
        if (on)
            beating_.insert(bdf);
        else
            beating_.erase(bdf);
    }

  private:
    // Every 50 ms, each beating card's heartbeat goes up (written whole, by rename).
    void Beat()
    {
        for (unsigned n = 1; !stop_; n++, std::this_thread::sleep_for(50ms)) {
            std::lock_guard<std::mutex> g(lock_);
            for (const auto &bdf : beating_) {
                fs::path hb = root_ / "sys/bus/pci/devices" / bdf / "loom/heartbeat";
                std::ofstream(hb.string() + ".tmp") << n << "\n";
                fs::rename(hb.string() + ".tmp", hb);
            }
        }
    }
    fs::path root_;
    std::mutex lock_; // Protects beating_.
    std::set<std::string> beating_;
    std::atomic<bool> stop_{false};
    std::thread beater_;
};

const char *A = "0000:3b:00.0", *B = "0000:3c:00.0", *E = "0000:3d:00.0"; // NUMA node 0
const char *C = "0000:af:00.0", *D = "0000:b0:00.0";                      // NUMA node 1
const char *F = "0000:05:00.0";                                           // no NUMA node

std::string Join(const google::protobuf::RepeatedPtrField<std::string> &ids)
{
    std::string s;
    for (const auto &id : ids)
        s += (s.empty() ? "" : ",") + id;
    return s;
}

std::string Preferred(v1beta1::DevicePlugin::Stub *stub, std::vector<std::string> avail,
                      std::vector<std::string> must, int size)
{
    v1beta1::PreferredAllocationRequest req;
    auto *cr = req.add_container_requests();
    for (const auto &id : avail)
        cr->add_available_deviceids(id);
    for (const auto &id : must)
        cr->add_must_include_deviceids(id);
    cr->set_allocation_size(size);
    v1beta1::PreferredAllocationResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = stub->GetPreferredAllocation(&ctx, req, &resp);
    if (!s.ok() || resp.container_responses_size() != 1)
        return "error: " + s.error_message();
    return Join(resp.container_responses(0).deviceids());
}

// A socket file nobody listens on, as a killed plugin leaves behind.
bool LeaveStaleSocket(const fs::path &path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {};
    sa.sun_family = AF_UNIX;
    std::snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path.c_str());
    int rc = fd < 0 ? -1 : bind(fd, reinterpret_cast<struct sockaddr *>(&sa), sizeof(sa));
    if (fd >= 0)
        close(fd);
    return rc == 0 && fs::is_socket(path);
}

void CheckPreferred(v1beta1::DevicePlugin::Stub *stub)
{
    std::vector<std::string> all = {A, B, C, D, E, F};
    std::string got = Preferred(stub, all, {}, 2);
    Check(got == std::string(C) + "," + D,
          "preferred 2 of 6: one NUMA node, the one that fits tightest (node 1)", got);
    got = Preferred(stub, all, {A}, 2);
    Check(got == std::string(A) + "," + B, "preferred 2 with must-include A: A's node", got);
    got = Preferred(stub, all, {}, 3);
    Check(got == std::string(A) + "," + B + "," + E, "preferred 3: the node with three", got);
    got = Preferred(stub, all, {C}, 3);
    Check(got == std::string(C) + "," + D + "," + A,
          "preferred 3 with must-include C: C's node, then the fullest other", got);
    got = Preferred(stub, {A, B, C}, {C, A}, 2);
    Check(got == std::string(C) + "," + A, "must-include already fills the request", got);
}

void CheckAllocate(v1beta1::DevicePlugin::Stub *stub)
{
    v1beta1::AllocateResponse resp;
    grpc::Status s = Allocate(stub, {{A}, {A, C}}, &resp);
    bool two = s.ok() && resp.container_responses_size() == 2;
    std::string one = two ? Describe(resp.container_responses(0)) : s.error_message();
    Check(one == "/dev/accel/accel0->/dev/accel/accel0:rw | 0000:3b:00.0",
          "Allocate A: exactly its accel node, rw, and LOOM_VISIBLE_CARDS=its bus id", one);
    std::string both = two ? Describe(resp.container_responses(1)) : "";
    Check(both == "/dev/accel/accel0->/dev/accel/accel0:rw /dev/accel/accel2->/dev/accel/accel2:rw "
                  "| 0000:3b:00.0,0000:af:00.0",
          "Allocate A+C for a second container: both nodes, both bus ids", both);
    v1beta1::AllocateResponse bad;
    s = Allocate(stub, {{"0000:99:00.0"}}, &bad);
    Check(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT &&
              s.error_message().find("unknown Loom card 0000:99:00.0") != std::string::npos,
          "Allocate of an unknown ID is refused (INVALID_ARGUMENT)", s.error_message());
}

void CheckHealth(FakeSysfs &sys, Watcher &w, v1beta1::DevicePlugin::Stub *stub)
{
    sys.SetBeating(D, false); // the card's firmware stopped: dead
    bool dead = WaitFor([&] { return w.Latest()[D] == "Unhealthy:1"; }, 5s);
    Check(dead && w.Latest()[C] == "Healthy:1",
          "a card whose heartbeat stopped turns Unhealthy within seconds");
    sys.Unplug(C);
    bool gone = WaitFor([&] { return w.Latest()[C] == "Unhealthy:1"; }, 5s);
    Check(gone && w.Latest().size() == 6, "an unplugged card turns Unhealthy, still listed");
    v1beta1::AllocateResponse resp;
    grpc::Status s = Allocate(stub, {{C}}, &resp);
    Check(s.error_code() == grpc::StatusCode::FAILED_PRECONDITION,
          "Allocate of an unhealthy card is refused", s.error_message());
    sys.SetBeating(D, true); // reset and back
    Check(WaitFor([&] { return w.Latest()[D] == "Healthy:1"; }, 5s),
          "the card turns Healthy again when its heartbeat resumes");
}

// The kubelet restarts: its socket is recreated and the plugins' removed.
void CheckReregistration(FakeKubelet &kubelet, std::unique_ptr<grpc::Server> &server,
                         const fs::path &dir)
{
    size_t before = kubelet.Count();
    server->Shutdown(std::chrono::system_clock::now() + 1s);
    server.reset();
    fs::remove(dir / "kubelet.sock");
    fs::remove(dir / "loom.sock");
    FakeKubelet again;
    auto server2 = StartKubelet(&again, dir / "kubelet.sock");
    bool re = WaitFor([&] { return again.Count() > 0; }, 10s);
    Check(re && before == 1, "after a kubelet restart the plugin registers again");
    auto stub = Connect(dir / "loom.sock");
    Watcher w(stub.get());
    Check(WaitFor([&] { return w.Latest().size() == 6; }, 5s),
          "and serves a fresh socket the new kubelet can list devices on");
    server2->Shutdown(std::chrono::system_clock::now() + 1s);
}

} // namespace

int main(int argc, char **argv)
{
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s LOOM_DEVICE_PLUGIN\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    char tmpl[] = "/tmp/loom-dp-test.XXXXXX";
    fs::path dir = mkdtemp(tmpl), root = dir / "root";
    {
        FakeSysfs sys(root);
        sys.AddCard(A, 0, 0);
        sys.AddCard(B, 0, 1);
        sys.AddCard(C, 1, 2);
        sys.AddCard(D, 1, 3);
        sys.AddCard(E, 0, 4);
        sys.AddCard(F, -1, 5);
        FakeKubelet kubelet;
        auto server = StartKubelet(&kubelet, dir / "kubelet.sock");
        bool stale = LeaveStaleSocket(dir / "loom.sock");
        pid_t pid = StartPlugin(argv[1], dir, root);
        bool reg = WaitFor([&] { return kubelet.Count() > 0; }, 10s);
        std::string what = reg ? DescribeRegistration(kubelet.requests[0]) : "";
        Check(stale && what == "v1beta1 loom.sock loom.dev/card preferred",
              "registers loom.dev/card (v1beta1, endpoint loom.sock, preferred allocation), "
              "over a stale socket file",
              what);
        auto stub = Connect(dir / "loom.sock");
        {
            Watcher w(stub.get());
            std::map<std::string, std::string> want = {{A, "Healthy:0"}, {B, "Healthy:0"},
                                                       {E, "Healthy:0"}, {C, "Healthy:1"},
                                                       {D, "Healthy:1"}, {F, "Healthy:none"}};
            Check(WaitFor([&] { return w.Latest() == want; }, 5s),
                  "ListAndWatch: one device per card, ID = bus id, Healthy, NUMA node from sysfs");
            CheckPreferred(stub.get());
            CheckAllocate(stub.get());
            CheckHealth(sys, w, stub.get());
        }
        CheckReregistration(kubelet, server, dir);
        bool exited = StopPlugin(pid, 5s);
        Check(exited && !fs::exists(dir / "loom.sock"),
              "SIGTERM: exits 0 and leaves no socket behind");
    }
    if (failed)
        std::printf("plugin log:\n%s", ReadAll(dir / "plugin.log").c_str());
    fs::remove_all(dir);
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
