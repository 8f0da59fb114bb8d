// kubelet.cc - registration with the kubelet (kubelet.h).
#include "kubelet.h"

#include <sys/stat.h>

#include <chrono>

#include <grpcpp/grpcpp.h>

#include "deviceplugin.grpc.pb.h"

namespace loomdp
{

bool RegisterWithKubelet(const std::string &kubelet_sock, const std::string &endpoint,
                         const std::string &resource, std::string *err)
{
    auto channel =
        grpc::CreateChannel("unix://" + kubelet_sock, grpc::InsecureChannelCredentials());
    auto stub = v1beta1::Registration::NewStub(channel);
    v1beta1::RegisterRequest req;
    req.set_version("v1beta1");
    req.set_endpoint(endpoint);
    req.set_resource_name(resource);
    req.mutable_options()->set_get_preferred_allocation_available(true);
    v1beta1::Empty resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc::Status s = stub->Register(&ctx, req, &resp);
    if (!s.ok())
        *err = s.error_message().empty() ? "no answer" : s.error_message();
    return s.ok();
}

uint64_t FileIdentity(const std::string &path)
{
    struct stat st;
    if (stat(path.c_str(), &st) != 0)
        return 0;
    return (static_cast<uint64_t>(st.st_dev) << 40) ^ static_cast<uint64_t>(st.st_ino) ^
           (static_cast<uint64_t>(st.st_ctim.tv_nsec) << 20);
}

} // namespace loomdp
