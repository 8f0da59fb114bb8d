// fake_kubelet.h - the kubelet's side of the device plugin API, for the
// tests that run loom-device-plugin as the DaemonSet runs it: on the host
// against a fake sysfs (test_device_plugin.cc) and in the QEMU guest against
// loom.ko's real cards (guest_device_plugin.cc).
#ifndef LOOM_TEST_FAKE_KUBELET_H
#define LOOM_TEST_FAKE_KUBELET_H

#include <sys/types.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "deviceplugin.grpc.pb.h"

namespace dptest
{

namespace fs = std::filesystem;

// Polls @pred every 50 ms for at most @limit; its last answer.
bool WaitFor(const std::function<bool()> &pred, std::chrono::milliseconds limit);

// The kubelet's Registration service: remembers each request.
class FakeKubelet final : public v1beta1::Registration::Service
{
  public:
    grpc::Status Register(grpc::ServerContext *, const v1beta1::RegisterRequest *req,
                          v1beta1::Empty *) override;
    size_t Count();
    std::mutex lock; // Protects requests.
    std::vector<v1beta1::RegisterRequest> requests;
};

// Serves @k on the Unix socket @sock (the kubelet's kubelet.sock).
std::unique_ptr<grpc::Server> StartKubelet(FakeKubelet *k, const fs::path &sock);

// "version endpoint resource preferred|-" of a registration request.
std::string DescribeRegistration(const v1beta1::RegisterRequest &r);

// One device list as ID -> "health:numa" ("Healthy:1", "Unhealthy:none").
using DeviceList = std::map<std::string, std::string>;

// The kubelet's side of ListAndWatch: a thread collecting the lists.
class Watcher
{
  public:
    explicit Watcher(v1beta1::DevicePlugin::Stub *stub);
    ~Watcher();
    // The latest list, or an empty one before the first.
    DeviceList Latest();
    // How many lists came so far.
    size_t Received();
    // The lists from the @first-th (0-based) on.
    std::vector<DeviceList> Since(size_t first);

  private:
    grpc::ClientContext ctx_;
    std::mutex lock_; // Protects lists_.
    std::vector<DeviceList> lists_;
    std::thread reader_;
};

std::unique_ptr<v1beta1::DevicePlugin::Stub> Connect(const fs::path &sock);

// One container request per element of @containers, each asking for its IDs.
grpc::Status Allocate(v1beta1::DevicePlugin::Stub *stub,
                      const std::vector<std::vector<std::string>> &containers,
                      v1beta1::AllocateResponse *resp);

// "host->container:perm ... | LOOM_VISIBLE_CARDS" of one container's answer.
std::string Describe(const v1beta1::ContainerAllocateResponse &r);

// Starts @binary with --plugin-dir=@dir --root=@root and a 200 ms poll, its
// stderr appended to @dir/plugin.log.
pid_t StartPlugin(const std::string &binary, const fs::path &dir, const fs::path &root);

// SIGTERM to @pid; whether it exited 0 within @limit (else it is killed).
bool StopPlugin(pid_t pid, std::chrono::milliseconds limit);

// The text of file @path ("" if it cannot be read).
std::string ReadAll(const fs::path &path);

} // namespace dptest

#endif
