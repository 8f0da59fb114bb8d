// fake_kubelet.cc - the kubelet's side of the device plugin API (fake_kubelet.h).
#include "fake_kubelet.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>

using namespace std::chrono_literals;

namespace dptest
{

bool WaitFor(const std::function<bool()> &pred, std::chrono::milliseconds limit)
{
    for (auto end = std::chrono::steady_clock::now() + limit;
         std::chrono::steady_clock::now() < end; std::this_thread::sleep_for(50ms))
        if (pred())
            return true;
    return pred();
}

grpc::Status FakeKubelet::Register(grpc::ServerContext *, const v1beta1::RegisterRequest *req,
                                   v1beta1::Empty *)
{
    std::lock_guard<std::mutex> g(lock);
    requests.push_back(*req);
    return grpc::Status::OK;
}

size_t FakeKubelet::Count()
{
    std::lock_guard<std::mutex> g(lock);
    return requests.size();
}

std::unique_ptr<grpc::Server> StartKubelet(FakeKubelet *k, const fs::path &sock)
{
    grpc::ServerBuilder b;
    b.AddListeningPort("unix://" + sock.string(), grpc::InsecureServerCredentials());
    b.RegisterService(k);
    return b.BuildAndStart();
}

std::string DescribeRegistration(const v1beta1::RegisterRequest &r)
{
    return r.version() + " " + r.endpoint() + " " + r.resource_name() + " " +
           (r.options().get_preferred_allocation_available() ? "preferred" : "-");
}

Watcher::Watcher(v1beta1::DevicePlugin::Stub *stub)
{
    reader_ = std::thread([this, stub] {
        auto stream = stub->ListAndWatch(&ctx_, v1beta1::Empty());
        v1beta1::ListAndWatchResponse r;
        while (stream->Read(&r)) { // ends when the plugin stops or we cancel
            DeviceList m;
            for (const auto &d : r.devices())
                m[d.id()] = d.health() + ":" +
                            (d.topology().nodes_size() ? std::to_string(d.topology().nodes(0).id())
                                                       : "none");
            std::lock_guard<std::mutex> g(lock_);
            lists_.push_back(std::move(m));
        }
        stream->Finish();
    });
}

Watcher::~Watcher()
{
    ctx_.TryCancel();
    reader_.join();
}

DeviceList Watcher::Latest()
{
    std::lock_guard<std::mutex> g(lock_);
    return lists_.empty() ? DeviceList() : lists_.back();
}

size_t Watcher::Received()
{
    std::lock_guard<std::mutex> g(lock_);
    return lists_.size();
}

std::vector<DeviceList> Watcher::Since(size_t first)
{
    std::lock_guard<std::mutex> g(lock_);
    return std::vector<DeviceList>(lists_.begin() + std::min(first, lists_.size()), lists_.end());
}

std::unique_ptr<v1beta1::DevicePlugin::Stub> Connect(const fs::path &sock)
{
    return v1beta1::DevicePlugin::NewStub(
        grpc::CreateChannel("unix://" + sock.string(), grpc::InsecureChannelCredentials()));
}

grpc::Status Allocate(v1beta1::DevicePlugin::Stub *stub,
                      const std::vector<std::vector<std::string>> &containers,
                      v1beta1::AllocateResponse *resp)
{
    v1beta1::AllocateRequest req;
    for (const auto &ids : containers) {
        auto *cr = req.add_container_requests();
        for (const auto &id : ids)
            cr->add_devices_ids(id);
    }
    grpc::ClientContext ctx;
    return stub->Allocate(&ctx, req, resp);
}

std::string Describe(const v1beta1::ContainerAllocateResponse &r)
{
    std::string s;
    for (const auto &d : r.devices())
        s += d.host_path() + "->" + d.container_path() + ":" + d.permissions() + " ";
    auto env = r.envs().find("LOOM_VISIBLE_CARDS");
    return s + "| " + (env == r.envs().end() ? "(unset)" : env->second);
}

pid_t StartPlugin(const std::string &binary, const fs::path &dir, const fs::path &root)
{
    pid_t pid = fork();
    if (pid == 0) {
        std::string log = (dir / "plugin.log").string();
        if (!freopen(log.c_str(), "a", stderr))
            _exit(126);
        execl(binary.c_str(), binary.c_str(), ("--plugin-dir=" + dir.string()).c_str(),
              ("--root=" + root.string()).c_str(), "--poll-ms=200", (char *)nullptr);
        _exit(127);
    }
    return pid;
}

bool StopPlugin(pid_t pid, std::chrono::milliseconds limit)
{
    kill(pid, SIGTERM);
    int status = -1;
    bool exited = WaitFor([&] { return waitpid(pid, &status, WNOHANG) == pid; }, limit);
    if (!exited) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    return exited && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

std::string ReadAll(const fs::path &path)
{
    std::ifstream f(path);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

} // namespace dptest
