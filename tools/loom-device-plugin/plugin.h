// plugin.h - the DevicePlugin gRPC service: the kubelet's view of the cards.
#ifndef LOOM_DEVICE_PLUGIN_PLUGIN_H
#define LOOM_DEVICE_PLUGIN_PLUGIN_H

#include <condition_variable>
#include <mutex>
#include <vector>

#include "cards.h"
#include "deviceplugin.grpc.pb.h"

namespace loomdp
{

class LoomPlugin final : public v1beta1::DevicePlugin::Service
{
  public:
    // Replaces the card list; ListAndWatch streams send it if it changed.
    void SetCards(const std::vector<Card> &cards);
    // Ends every ListAndWatch stream (before the server shuts down).
    void Stop();

    grpc::Status GetDevicePluginOptions(grpc::ServerContext *ctx, const v1beta1::Empty *req,
                                        v1beta1::DevicePluginOptions *resp) override;
    grpc::Status ListAndWatch(grpc::ServerContext *ctx, const v1beta1::Empty *req,
                              grpc::ServerWriter<v1beta1::ListAndWatchResponse> *w) override;
    grpc::Status GetPreferredAllocation(grpc::ServerContext *ctx,
                                        const v1beta1::PreferredAllocationRequest *req,
                                        v1beta1::PreferredAllocationResponse *resp) override;
    grpc::Status Allocate(grpc::ServerContext *ctx, const v1beta1::AllocateRequest *req,
                          v1beta1::AllocateResponse *resp) override;
    grpc::Status PreStartContainer(grpc::ServerContext *ctx,
                                   const v1beta1::PreStartContainerRequest *req,
                                   v1beta1::PreStartContainerResponse *resp) override;

  private:
    v1beta1::ListAndWatchResponse ListLocked() const;
    grpc::Status AllocateOne(const v1beta1::ContainerAllocateRequest &req,
                             v1beta1::ContainerAllocateResponse *resp) const;

    std::mutex lock_; // Protects cards_, generation_ and stopping_.
    std::condition_variable changed_;
    std::vector<Card> cards_;
    unsigned long generation_ = 0; // bumped on every change of cards_
    bool stopping_ = false;
};

} // namespace loomdp

#endif
