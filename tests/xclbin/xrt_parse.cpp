// Opens every xclbin of bitstreams/manifest.json with XRT's own parser
// (libxrt_coreutil's xrt::xclbin) and checks what the manifest promises:
// the UUID (non-nil, the header's), the interface UUID, the kernels (from
// EMBEDDED_METADATA) with their arguments and CUs, the memory banks. Prints
// TAP-like lines and "xrt-parse: N passed, N failed" last.
//
//   xrt_parse MANIFEST.json XCLBIN_DIR
//
// XRT loads $XILINX_XRT/lib/libxrt_core.so.2; the Makefile points XILINX_XRT
// at a directory linking Debian's multiarch copy.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <json-c/json.h>
#include <xrt/experimental/xrt_xclbin.h>

extern "C" {
#include "../../hls/loom_cu.h"
}

static int n_pass, n_fail;

static void check(bool ok, const std::string &what)
{
    (ok ? n_pass : n_fail)++;
    std::printf("%s %d %s\n", ok ? "ok" : "not ok", n_pass + n_fail, what.c_str());
}

static std::vector<char> read_file(const std::string &path)
{
    std::ifstream f(path, std::ios::binary);
    return std::vector<char>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

static void check_one(const std::string &dir, json_object *entry)
{
    json_object *v;
    std::string file =
        json_object_object_get_ex(entry, "file", &v) ? json_object_get_string(v) : "";
    std::string path = dir + "/" + file;
    std::set<std::string> want_kernels;
    int want_cus = json_object_object_get_ex(entry, "cus", &v) ? json_object_get_int(v) : -1;

    if (json_object_object_get_ex(entry, "kernels", &v))
        for (size_t i = 0; i < json_object_array_length(v); i++)
            want_kernels.insert(json_object_get_string(json_object_array_get_idx(v, i)));
    try {
        xrt::xclbin xb(path);
        std::vector<char> raw = read_file(path);
        const axlf *top = reinterpret_cast<const axlf *>(raw.data());
        xrt::uuid uuid = xb.get_uuid();
        static const unsigned char nil[16] = {0};

        check(raw.size() > sizeof(axlf) && std::memcmp(uuid.get(), nil, 16) != 0 &&
                  std::memcmp(uuid.get(), top->m_header.uuid, 16) == 0,
              file + ": XRT reads the xclbin UUID " + uuid.to_string());
        /* loom-cardsim's interface UUID: bytes 0x4c..0x5b (hls/card/loom_card.c) */
        bool iface_ok = true;
        for (int i = 0; i < 16; i++)
            iface_ok &= top->m_header.rom_uuid[i] == 0x4c + i;
        check(iface_ok, file + ": built for the Loom card interface UUID");
        check(xb.get_xsa_name() == "loom:loom_card:interface_1:1.0",
              file + ": platform (XSA name) " + xb.get_xsa_name());

        std::set<std::string> got_kernels;
        size_t cus_via_kernels = 0;
        bool args_ok = true;
        for (auto &k : xb.get_kernels()) {
            uint32_t nargs = 0;
            const loom_cu_arg *args =
                loom_cu_args(loom_cu_kind_from_name(k.get_name().c_str()), &nargs);

            got_kernels.insert(k.get_name());
            cus_via_kernels += k.get_cus().size();
            args_ok &= k.get_num_args() == nargs;
            for (uint32_t a = 0; a < nargs && args_ok; a++)
                args_ok &= k.get_arg(a).get_name() == args[a].name && k.get_arg(a).get_index() == a;
        }
        check(got_kernels == want_kernels,
              file + ": kernels from EMBEDDED_METADATA match the manifest (" +
                  std::to_string(got_kernels.size()) + ")");
        check(args_ok, file + ": every kernel has the CU contract's arguments, in order");
        check((int)cus_via_kernels == want_cus && (int)xb.get_ips().size() == want_cus,
              file + ": " + std::to_string(want_cus) + " CUs through kernels and IP_LAYOUT");

        bool names_ok = true;
        for (auto &ip : xb.get_ips()) {
            std::string name = ip.get_name();
            std::string kernel = name.substr(0, name.find(':'));

            names_ok &= name.find(':') != std::string::npos && want_kernels.count(kernel) &&
                        ip.get_base_address() >= 0x1800000;
        }
        check(names_ok, file + ": CU names are kernel:instance at their base addresses");
        auto mems = xb.get_mems();
        check(!mems.empty() && mems[0].get_used() && mems[0].get_size_kb() > 0,
              file + ": memory topology has a used bank (" + mems[0].get_tag() + ")");
    } catch (const std::exception &e) {
        check(false, file + ": XRT refused it: " + e.what());
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s MANIFEST.json XCLBIN_DIR\n", argv[0]);
        return 2;
    }
    json_object *root = json_object_from_file(argv[1]), *list;
    if (!root || !json_object_object_get_ex(root, "xclbins", &list)) {
        std::fprintf(stderr, "%s: no \"xclbins\" list\n", argv[1]);
        return 2;
    }
    for (size_t i = 0; i < json_object_array_length(list); i++)
        check_one(argv[2], json_object_array_get_idx(list, i));
    json_object_put(root);
    std::printf("xrt-parse: %d passed, %d failed\n", n_pass, n_fail);
    return n_fail != 0;
}
