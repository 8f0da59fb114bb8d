// kubelet.h - the plugin's side of the kubelet's Registration service.
#ifndef LOOM_DEVICE_PLUGIN_KUBELET_H
#define LOOM_DEVICE_PLUGIN_KUBELET_H

#include <cstdint>
#include <string>

namespace loomdp
{

// Registers resource @resource served on @endpoint (a socket name in the
// kubelet's plugin directory) with the kubelet listening on @kubelet_sock.
// False with @err set if the kubelet does not answer or refuses.
bool RegisterWithKubelet(const std::string &kubelet_sock, const std::string &endpoint,
                         const std::string &resource, std::string *err);

// Which file @path is (device and inode), or 0 if there is none: the kubelet
// recreates its socket when it restarts, which is how the plugin notices.
uint64_t FileIdentity(const std::string &path);

} // namespace loomdp

#endif
