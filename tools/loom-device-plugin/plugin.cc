// plugin.cc - the DevicePlugin service (plugin.h).
#include "plugin.h"

#include <chrono>
#include <map>

#include "preferred.h"

namespace loomdp
{

void LoomPlugin::SetCards(const std::vector<Card> &cards)
{
    std::lock_guard<std::mutex> g(lock_);
    if (cards == cards_)
        return;
    cards_ = cards;
    generation_++;
    changed_.notify_all();
}

void LoomPlugin::Stop()
{
    std::lock_guard<std::mutex> g(lock_);
    stopping_ = true;
    changed_.notify_all();
}

grpc::Status LoomPlugin::GetDevicePluginOptions(grpc::ServerContext *, const v1beta1::Empty *,
                                                v1beta1::DevicePluginOptions *resp)
{
    resp->set_get_preferred_allocation_available(true);
    return grpc::Status::OK;
}

v1beta1::ListAndWatchResponse LoomPlugin::ListLocked() const
{
    v1beta1::ListAndWatchResponse r;
    for (const auto &c : cards_) {
        auto *d = r.add_devices();
        d->set_id(c.bdf);
        d->set_health(c.healthy ? "Healthy" : "Unhealthy");
        // No NUMA node (-1): no topology, so the kubelet's topology manager ignores it.
        if (c.numa >= 0)
            d->mutable_topology()->add_nodes()->set_id(c.numa);
    }
    return r;
}

grpc::Status LoomPlugin::ListAndWatch(grpc::ServerContext *ctx, const v1beta1::Empty *,
                                      grpc::ServerWriter<v1beta1::ListAndWatchResponse> *w)
{
    std::unique_lock<std::mutex> g(lock_);
    unsigned long sent = generation_ - 1; // send the current list at once
    // Ends when the plugin stops or the kubelet hangs up; the wait is bounded
    // so a cancelled stream is noticed within a second.
    while (!stopping_ && !ctx->IsCancelled()) {
        if (sent != generation_) {
            v1beta1::ListAndWatchResponse r = ListLocked();
            sent = generation_;
            g.unlock();
            bool ok = w->Write(r);
            g.lock();
            if (!ok)
                break;
        }
        changed_.wait_for(g, std::chrono::seconds(1));
    }
    return grpc::Status::OK;
}

grpc::Status LoomPlugin::GetPreferredAllocation(grpc::ServerContext *,
                                                const v1beta1::PreferredAllocationRequest *req,
                                                v1beta1::PreferredAllocationResponse *resp)
{
    std::map<std::string, int> numa;
    {
        std::lock_guard<std::mutex> g(lock_);
        for (const auto &c : cards_)
            numa[c.bdf] = c.numa;
    }
    for (const auto &cr : req->container_requests()) {
        std::vector<std::string> avail(cr.available_deviceids().begin(),
                                       cr.available_deviceids().end());
        std::vector<std::string> must(cr.must_include_deviceids().begin(),
                                      cr.must_include_deviceids().end());
        auto *out = resp->add_container_responses();
        for (const auto &id : PreferredCards(avail, must, cr.allocation_size(), numa))
            out->add_deviceids(id);
    }
    return grpc::Status::OK;
}

// The device nodes of the requested cards and LOOM_VISIBLE_CARDS naming them,
// so libloom in the container uses exactly those (by bus id, whatever card:N
// they become there). Unknown or unhealthy cards fail the allocation.
grpc::Status LoomPlugin::AllocateOne(const v1beta1::ContainerAllocateRequest &req,
                                     v1beta1::ContainerAllocateResponse *resp) const
{
    std::string visible;
    for (const auto &id : req.devices_ids()) {
        const Card *card = nullptr;
        for (const auto &c : cards_)
            if (c.bdf == id)
                card = &c;
        if (!card)
            return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "unknown Loom card " + id);
        if (!card->healthy || card->node.empty())
            return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                "Loom card " + id + " is unhealthy");
        auto *spec = resp->add_devices();
        spec->set_host_path(card->node);
        spec->set_container_path(card->node);
        spec->set_permissions("rw");
        visible += (visible.empty() ? "" : ",") + id;
    }
    (*resp->mutable_envs())["LOOM_VISIBLE_CARDS"] = visible;
    return grpc::Status::OK;
}

grpc::Status LoomPlugin::Allocate(grpc::ServerContext *, const v1beta1::AllocateRequest *req,
                                  v1beta1::AllocateResponse *resp)
{
    std::lock_guard<std::mutex> g(lock_);
    for (const auto &cr : req->container_requests()) {
        grpc::Status s = AllocateOne(cr, resp->add_container_responses());
        if (!s.ok())
            return s;
    }
    return grpc::Status::OK;
}

grpc::Status LoomPlugin::PreStartContainer(grpc::ServerContext *,
                                           const v1beta1::PreStartContainerRequest *,
                                           v1beta1::PreStartContainerResponse *)
{
    return grpc::Status::OK; // not asked for (pre_start_required is false)
}

} // namespace loomdp
