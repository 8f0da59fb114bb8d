// loom-device-plugin - a Kubernetes device plugin for Loom cards.
//
//   loom-device-plugin [--resource-name loom.dev/card]
//                      [--plugin-dir /var/lib/kubelet/device-plugins]
//                      [--root /] [--endpoint loom.sock] [--poll-ms 1000]
//
// Serves the kubelet's DevicePlugin API on PLUGIN_DIR/ENDPOINT and registers
// RESOURCE with the kubelet on PLUGIN_DIR/kubelet.sock: one device per card of
// loom.ko (ID = PCI bus id, health and NUMA node from ROOT/sys, rescanned every
// POLL_MS). When the kubelet restarts (its socket is recreated, ours removed)
// the plugin serves a fresh socket and registers again. SIGTERM or SIGINT: the
// socket is removed and the plugin exits 0.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "cards.h"
#include "kubelet.h"
#include "plugin.h"

namespace
{

struct Options {
    std::string resource = "loom.dev/card";
    std::string plugin_dir = "/var/lib/kubelet/device-plugins";
    std::string root = "";
    std::string endpoint = "loom.sock";
    int poll_ms = 1000;
};

void Log(const std::string &msg)
{
    std::time_t t = std::time(nullptr);
    char ts[32];
    std::strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    std::fprintf(stderr, "%s loom-device-plugin: %s\n", ts, msg.c_str());
}

// "--flag value" or "--flag=value"; false (with a message) on anything else.
bool ParseArgs(int argc, char **argv, Options *o)
{
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i], v;
        size_t eq = a.find('=');
        if (eq != std::string::npos) {
            v = a.substr(eq + 1);
            a = a.substr(0, eq);
        } else if (i + 1 < argc) {
            v = argv[++i];
        } else {
            Log(a + " needs a value");
            return false;
        }
        if (a == "--resource-name")
            o->resource = v;
        else if (a == "--plugin-dir")
            o->plugin_dir = v;
        else if (a == "--root")
            o->root = v == "/" ? "" : v;
        else if (a == "--endpoint" && v.find('/') == std::string::npos && !v.empty())
            o->endpoint = v;
        else if (a == "--poll-ms" && std::atoi(v.c_str()) >= 10)
            o->poll_ms = std::atoi(v.c_str());
        else {
            Log("bad option " + a + "=" + v + " (see the header of main.cc)");
            return false;
        }
    }
    return true;
}

// A server for @plugin on @sock, replacing a stale socket file; null on failure.
std::unique_ptr<grpc::Server> Serve(loomdp::LoomPlugin *plugin, const std::string &sock)
{
    unlink(sock.c_str());
    grpc::ServerBuilder b;
    b.AddListeningPort("unix://" + sock, grpc::InsecureServerCredentials());
    b.RegisterService(plugin);
    std::unique_ptr<grpc::Server> s = b.BuildAndStart();
    if (s)
        Log("serving on " + sock);
    else
        Log("cannot serve on " + sock);
    return s;
}

void Shutdown(std::unique_ptr<grpc::Server> &server, const std::string &sock)
{
    if (server)
        server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    server.reset();
    unlink(sock.c_str());
}

// Registers when the kubelet's socket is one we have not registered with.
void KeepRegistered(const Options &o, uint64_t *registered_with)
{
    const std::string kubelet = o.plugin_dir + "/kubelet.sock";
    uint64_t id = loomdp::FileIdentity(kubelet);
    if (id == 0 || id == *registered_with) {
        *registered_with = id;
        return;
    }
    std::string err;
    if (loomdp::RegisterWithKubelet(kubelet, o.endpoint, o.resource, &err)) {
        *registered_with = id;
        Log("registered " + o.resource + " with the kubelet (endpoint " + o.endpoint + ")");
    } else {
        Log("registration failed, retrying: " + err);
    }
}

} // namespace

int main(int argc, char **argv)
{
    Options o;
    if (!ParseArgs(argc, argv, &o))
        return 2;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, nullptr); // taken synchronously below; gRPC threads inherit it
    const std::string sock = o.plugin_dir + "/" + o.endpoint;
    loomdp::CardScanner scanner(o.root);
    loomdp::LoomPlugin plugin;
    std::unique_ptr<grpc::Server> server;
    uint64_t registered_with = 0;
    // Runs until a signal: each round rescans the cards, serves again if the
    // kubelet removed our socket, registers again if it restarted.
    for (;;) {
        plugin.SetCards(scanner.Scan());
        if (!server || loomdp::FileIdentity(sock) == 0) {
            Shutdown(server, sock);
            server = Serve(&plugin, sock);
            registered_with = 0;
        }
        if (server)
            KeepRegistered(o, &registered_with);
        struct timespec ts = {o.poll_ms / 1000, (o.poll_ms % 1000) * 1000000L};
        int sig = sigtimedwait(&set, nullptr, &ts);
        if (sig == SIGTERM || sig == SIGINT)
            break;
    }
    plugin.Stop();
    Shutdown(server, sock);
    Log("stopped, " + sock + " removed");
    return 0;
}
