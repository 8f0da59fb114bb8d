/*
 * The card model's CU dispatch: PROGRAM with every CU kind, START_CU of each
 * int8 CU with its descriptor and buffers in device memory (results equal a
 * direct call of the CU function), the cycle model in the completions, and
 * hostile commands: bad descriptors, ranges outside the heap, misaligned
 * tables, wrong argument counts, unknown kinds in the bitstream.
 */
#include <endian.h>

#include "tb.h"
#include "../card/loom_card.h"

#define MEM_SIZE (8u << 20)

static struct loom_card card;
static uint8_t *mem;
static uint64_t heap, brk_off;
static uint32_t seqno;
static uint64_t last_cycles;

/* Bump allocator in the heap: returns a device address. */
static uint64_t dev_alloc(uint64_t len)
{
    uint64_t a = heap + brk_off;

    brk_off = (brk_off + len + 63) & ~63ull;
    return a;
}

static uint32_t run1(uint16_t op, uint32_t cu, const uint64_t *args, uint16_t nargs)
{
    uint32_t tail = loom_card_reg_read(&card, LOOM_REG_CMD_TAIL);
    uint32_t off = loom_card_reg_read(&card, LOOM_REG_CMD_RING_OFF);
    struct loom_card_cmd cmd = {0};
    struct loom_card_cpl cpl;

    cmd.opcode = htole16(op);
    cmd.nargs = htole16(nargs);
    cmd.seqno = htole32(++seqno);
    cmd.cu_index = htole32(cu);
    for (uint16_t i = 0; i < nargs; i++)
        cmd.args[i] = htole64(args[i]);
    memcpy(mem + off + (tail & (card.cmd_slots - 1)) * sizeof(cmd), &cmd, sizeof(cmd));
    loom_card_reg_write(&card, LOOM_REG_CMD_TAIL, tail + 1);
    if (!loom_card_take(&card, &cpl))
        return 0xffff;
    loom_card_post(&card, &cpl);
    last_cycles = le64toh(cpl.cycles);
    return le32toh(cpl.status);
}

static void program(const uint32_t *kinds, uint32_t n, uint32_t want, const char *name)
{
    uint64_t bs = dev_alloc(8 + 4 * n), args[4] = {bs, 8 + 4 * n, 1, 2};
    uint32_t v = htole32(LOOM_SIM_BITSTREAM_MAGIC);

    memcpy(mem + bs, &v, 4);
    v = htole32(n);
    memcpy(mem + bs + 4, &v, 4);
    for (uint32_t i = 0; i < n; i++) {
        v = htole32(kinds[i]);
        memcpy(mem + bs + 8 + 4 * i, &v, 4);
    }
    tb_check(run1(LOOM_OP_PROGRAM, 0, args, 4) == want, "card", name);
}

/* A QCONV in device memory: descriptor, table, input, weights, output, bias. */
struct conv_job {
    struct loom_cu_qconv_desc d;
    uint64_t a_desc, a_rq, a_x, a_w, a_y, a_bias, ybytes;
    struct loom_rq rq[8];
};

static void conv_setup(struct conv_job *j)
{
    uint64_t xb, wb;

    memset(&j->d, 0, sizeof(j->d));
    loom_cu_hdr_init(&j->d.hdr, LOOM_CU_KIND_QCONV, sizeof(j->d), LOOM_CU_F_BIAS);
    j->d.n = 1, j->d.c = 4, j->d.h = 10, j->d.w = 10, j->d.m = 8, j->d.group = 1;
    j->d.kh = 3, j->d.kw = 3, j->d.oh = 10, j->d.ow = 10, j->d.stride_h = 1, j->d.stride_w = 1;
    j->d.pad_t = j->d.pad_l = j->d.pad_b = j->d.pad_r = 1, j->d.dil_h = j->d.dil_w = 1;
    j->d.q.x_zp = 3, j->d.q.w_zp = 0, j->d.q.y_zp = -4;
    loom_rq_act_range(0, 1, -4, &j->d.q.act_min, &j->d.q.act_max);
    j->d.q.rq_count = 8;
    xb = 4 * 10 * 10;
    wb = 8 * 4 * 9;
    j->ybytes = 8 * 10 * 10;
    j->a_desc = dev_alloc(sizeof(j->d));
    j->a_rq = dev_alloc(sizeof(j->rq));
    j->a_x = dev_alloc(xb);
    j->a_w = dev_alloc(wb);
    j->a_y = dev_alloc(j->ybytes);
    j->a_bias = dev_alloc(8 * 4);
    j->d.q.rq_addr = j->a_rq;
    for (int i = 0; i < 8; i++) {
        loom_rq_from_qlinear(0.05f, 0.01f * (i + 1), 0.1f, &j->rq[i]);
        ((int32_t *)(mem + j->a_bias))[i] = tb_range(-500, 500);
    }
    memcpy(mem + j->a_rq, j->rq, sizeof(j->rq));
    for (uint64_t i = 0; i < xb; i++)
        mem[j->a_x + i] = (uint8_t)tb_rand();
    for (uint64_t i = 0; i < wb; i++)
        mem[j->a_w + i] = (uint8_t)tb_rand();
    memcpy(mem + j->a_desc, &j->d, sizeof(j->d));
}

static uint32_t conv_run(struct conv_job *j, uint16_t nargs)
{
    uint64_t args[5] = {j->a_desc, j->a_x, j->a_w, j->a_y, j->a_bias};

    return run1(LOOM_OP_START_CU, 4, args, nargs);
}

/* Rewrite one field of the device descriptor, run, restore; expect @want. */
#define HOSTILE(field, value, want, name)                                                          \
    do {                                                                                           \
        struct loom_cu_qconv_desc bad_ = job.d;                                                    \
        bad_.field = (value);                                                                      \
        memcpy(mem + job.a_desc, &bad_, sizeof(bad_));                                             \
        tb_check(conv_run(&job, 5) == (want), "card", name);                                       \
        memcpy(mem + job.a_desc, &job.d, sizeof(job.d));                                           \
    } while (0)

int main(void)
{
    const uint32_t kinds[] = {LOOM_CU_KIND_NOOP,  LOOM_CU_KIND_MEMCPY, LOOM_CU_KIND_VADD,
                              LOOM_CU_KIND_QGEMM, LOOM_CU_KIND_QCONV,  LOOM_CU_KIND_POOL,
                              LOOM_CU_KIND_QADD};
    const uint32_t bad_kinds[] = {LOOM_CU_KIND_QGEMM, 8};
    struct conv_job job;
    uint8_t *ref;
    uint64_t args[5], c_small, c_big;
    int ok;

    mem = aligned_alloc(4096, MEM_SIZE);
    if (!mem || loom_card_init(&card, mem, MEM_SIZE, 16, "tb", 0))
        return 2;
    heap = loom_card_reg_read(&card, LOOM_REG_HEAP_DEVADDR);
    program(bad_kinds, 2, LOOM_CPL_BAD_BITSTREAM, "an unknown CU kind is refused");
    program(kinds, 7, LOOM_CPL_OK, "programs all seven CU kinds");
    tb_check(loom_card_reg_read(&card, LOOM_REG_NUM_CUS) == 7, "card", "NUM_CUS is 7");

    /* QCONV through START_CU equals the CU function called directly. */
    conv_setup(&job);
    ref = tb_buf(job.ybytes, 0);
    loom_cu_qconv(&job.d, job.rq, mem + job.a_x, mem + job.a_w, (const int32_t *)(mem + job.a_bias),
                  ref);
    ok = conv_run(&job, 5) == LOOM_CPL_OK && !memcmp(ref, mem + job.a_y, job.ybytes);
    tb_check(ok, "card", "QCONV through START_CU equals the direct call");
    c_small = last_cycles;
    tb_check(c_small > LOOM_CU_START_CYCLES &&
                 c_small == loom_cu_cycles(LOOM_CU_KIND_QCONV, &job.d, NULL, 0),
             "card", "completion carries the cycle model's estimate");

    /* Hostile descriptors complete with ERROR and leave the output alone. */
    memset(mem + job.a_y, 0x77, job.ybytes);
    HOSTILE(hdr.magic, 0, LOOM_CPL_ERROR, "bad descriptor magic");
    HOSTILE(hdr.version, 2, LOOM_CPL_ERROR, "unknown descriptor version");
    HOSTILE(hdr.kind, LOOM_CU_KIND_QGEMM, LOOM_CPL_ERROR, "descriptor of another kind");
    HOSTILE(hdr.size, 64, LOOM_CPL_ERROR, "descriptor size mismatch");
    HOSTILE(hdr.flags, LOOM_CU_F_BIAS | 0x8000, LOOM_CPL_ERROR, "unknown flag");
    HOSTILE(hdr.flags, LOOM_CU_F_BIAS | LOOM_CU_F_POOL_AVG, LOOM_CPL_ERROR, "flag of another kind");
    HOSTILE(c, 0, LOOM_CPL_ERROR, "zero channels");
    HOSTILE(group, 3, LOOM_CPL_ERROR, "channels not a multiple of groups");
    HOSTILE(oh, 11, LOOM_CPL_ERROR, "output height inconsistent");
    HOSTILE(stride_w, 0, LOOM_CPL_ERROR, "zero stride");
    HOSTILE(c, 4096, LOOM_CPL_ERROR, "K beyond the accumulator bound");
    HOSTILE(h, 0x7fffffff, LOOM_CPL_ERROR, "huge height");
    HOSTILE(w, 1u << 20, LOOM_CPL_ERROR, "input past the heap");
    HOSTILE(q.x_zp, 200, LOOM_CPL_ERROR, "zero point outside int8");
    HOSTILE(q.act_max, -10, LOOM_CPL_ERROR, "clamp max below min");
    HOSTILE(q.rq_count, 3, LOOM_CPL_ERROR, "table neither 1 nor M entries");
    HOSTILE(q.rq_addr, job.a_rq + 2, LOOM_CPL_ERROR, "misaligned table");
    HOSTILE(q.rq_addr, 0, LOOM_CPL_ERROR, "table outside the heap");
    HOSTILE(q.rq_addr, MEM_SIZE - 16, LOOM_CPL_ERROR, "table running past the heap");
    HOSTILE(reserved[0], 1, LOOM_CPL_ERROR, "reserved field set");
    tb_check(mem[job.a_y] == 0x77 && mem[job.a_y + job.ybytes - 1] == 0x77, "card",
             "refused commands write nothing");
    ((struct loom_rq *)(mem + job.a_rq))[5].shift = 0;
    tb_check(conv_run(&job, 5) == LOOM_CPL_ERROR, "card", "table entry with shift 0");
    memcpy(mem + job.a_rq, job.rq, sizeof(job.rq));
    tb_check(conv_run(&job, 4) == LOOM_CPL_BAD_COMMAND, "card", "bias flag without bias argument");
    tb_check(conv_run(&job, 0) == LOOM_CPL_BAD_COMMAND, "card", "no descriptor argument");
    args[0] = job.a_desc + 4;
    tb_check(run1(LOOM_OP_START_CU, 4, args, 5) == LOOM_CPL_ERROR, "card", "misaligned descriptor");
    args[0] = 0x100;
    tb_check(run1(LOOM_OP_START_CU, 4, args, 5) == LOOM_CPL_ERROR, "card",
             "descriptor in the register block");
    memcpy(args, (uint64_t[]){job.a_desc, job.a_x, job.a_w, MEM_SIZE - 10, job.a_bias}, 40);
    tb_check(run1(LOOM_OP_START_CU, 4, args, 5) == LOOM_CPL_ERROR, "card", "output past the heap");
    memcpy(args, (uint64_t[]){job.a_desc, job.a_x, job.a_w, job.a_y, job.a_bias + 1}, 40);
    tb_check(run1(LOOM_OP_START_CU, 4, args, 5) == LOOM_CPL_ERROR, "card", "misaligned bias");
    memcpy(args, (uint64_t[]){job.a_desc, job.a_x, job.a_w, job.a_y, job.a_bias}, 40);
    tb_check(run1(LOOM_OP_START_CU, 3, args, 5) == LOOM_CPL_ERROR, "card",
             "QCONV descriptor sent to the QGEMM CU");
    tb_check(conv_run(&job, 5) == LOOM_CPL_OK && !memcmp(ref, mem + job.a_y, job.ybytes), "card",
             "the CU still works after the refusals");

    /* The cycle model grows with the work. */
    job.d.c = 64;
    job.d.m = 8;
    c_big = loom_cu_cycles(LOOM_CU_KIND_QCONV, &job.d, NULL, 0);
    tb_check(c_big > 8 * (c_small - LOOM_CU_START_CYCLES), "card", "cycles scale with K");

    /* POOL, QADD and QGEMM run through the card too. */
    {
        struct loom_cu_pool_desc pd = {0};
        struct loom_cu_qadd_desc ad = {0};
        struct loom_cu_qgemm_desc gd = {0};
        uint64_t a_pd = dev_alloc(sizeof(pd)), a_ad = dev_alloc(sizeof(ad));
        uint64_t a_gd = dev_alloc(sizeof(gd)), a_out = dev_alloc(4096), a_rq1 = dev_alloc(8);
        struct loom_rq one;
        uint8_t pref[400], aref[400], gref[80];

        loom_cu_hdr_init(&pd.hdr, LOOM_CU_KIND_POOL, sizeof(pd), 0);
        pd.n = 1, pd.c = 4, pd.h = 10, pd.w = 10, pd.oh = 5, pd.ow = 5, pd.kh = 2, pd.kw = 2;
        pd.stride_h = pd.stride_w = 2, pd.dil_h = pd.dil_w = 1;
        pd.q.act_min = -128, pd.q.act_max = 127;
        memcpy(mem + a_pd, &pd, sizeof(pd));
        loom_cu_pool(&pd, NULL, mem + job.a_x, pref);
        memcpy(args, (uint64_t[]){a_pd, job.a_x, a_out}, 24);
        tb_check(run1(LOOM_OP_START_CU, 5, args, 3) == LOOM_CPL_OK &&
                     !memcmp(pref, mem + a_out, 100),
                 "card", "POOL through START_CU");

        loom_cu_hdr_init(&ad.hdr, LOOM_CU_KIND_QADD, sizeof(ad), 0);
        ad.dims[0] = ad.dims[1] = 1, ad.dims[2] = 20, ad.dims[3] = 20;
        ad.a_strides[2] = 20, ad.a_strides[3] = 1, ad.b_strides[3] = 1; /* b broadcast by row */
        ad.act_min = -128, ad.act_max = 127;
        loom_rq_pair_from_scales(0.7, 0.4, &ad.a_mult, &ad.b_mult, &ad.shift);
        memcpy(mem + a_ad, &ad, sizeof(ad));
        loom_cu_qadd(&ad, mem + job.a_x, mem + job.a_w, aref);
        memcpy(args, (uint64_t[]){a_ad, job.a_x, job.a_w, a_out}, 32);
        tb_check(run1(LOOM_OP_START_CU, 6, args, 4) == LOOM_CPL_OK &&
                     !memcmp(aref, mem + a_out, 400),
                 "card", "QADD through START_CU");

        loom_cu_hdr_init(&gd.hdr, LOOM_CU_KIND_QGEMM, sizeof(gd), LOOM_CU_F_Y_U8);
        gd.batch = 1, gd.m = 8, gd.n = 10, gd.k = 40;
        gd.q.act_min = 0, gd.q.act_max = 255, gd.q.rq_count = 1, gd.q.rq_addr = a_rq1;
        loom_rq_from_scale(0.003, &one);
        memcpy(mem + a_rq1, &one, sizeof(one));
        memcpy(mem + a_gd, &gd, sizeof(gd));
        loom_cu_qgemm(&gd, &one, mem + job.a_x, mem + job.a_w, NULL, gref);
        memcpy(args, (uint64_t[]){a_gd, job.a_x, job.a_w, a_out}, 32);
        tb_check(run1(LOOM_OP_START_CU, 3, args, 4) == LOOM_CPL_OK &&
                     !memcmp(gref, mem + a_out, 80) &&
                     last_cycles == loom_cu_cycles(LOOM_CU_KIND_QGEMM, &gd, NULL, 0),
                 "card", "QGEMM through START_CU");
    }

    /*
     * Mutated descriptors: one to three words set to small or random values.
     * Every command completes OK or ERROR, and under ASan none reads or
     * writes outside its checked ranges.
     */
    {
        uint32_t words[sizeof(job.d) / 4], n_ok = 0, n_err = 0, n_other = 0;

        for (int it = 0; it < 20000; it++) {
            memcpy(words, &job.d, sizeof(words));
            for (int m = 1 + (int)(tb_rand() % 3); m > 0; m--) {
                uint32_t w = tb_rand() % (sizeof(words) / 4);

                words[w] = tb_rand() & 1 ? tb_rand() % 8 : tb_rand();
            }
            memcpy(mem + job.a_desc, words, sizeof(words));
            switch (conv_run(&job, 5)) {
            case LOOM_CPL_OK:
                n_ok++;
                break;
            case LOOM_CPL_ERROR:
            case LOOM_CPL_BAD_COMMAND:
                n_err++;
                break;
            default:
                n_other++;
            }
        }
        memcpy(mem + job.a_desc, &job.d, sizeof(job.d));
        printf("# card: 20000 mutated QCONV descriptors: %u ran, %u refused\n", n_ok, n_err);
        tb_check(n_other == 0 && n_ok > 0 && n_err > 0, "card",
                 "mutated descriptors run or are refused, never crash");
    }

    /* The simulator's original CUs keep working. */
    memcpy(args, (uint64_t[]){job.a_y, job.a_x, 64}, 24);
    tb_check(run1(LOOM_OP_START_CU, 1, args, 3) == LOOM_CPL_OK &&
                 !memcmp(mem + job.a_y, mem + job.a_x, 64) && last_cycles > 1,
             "card", "memcpy CU");
    tb_check(run1(LOOM_OP_START_CU, 0, NULL, 0) == LOOM_CPL_OK && last_cycles == 1, "card",
             "no-op CU");
    free(ref);
    free(mem);
    return tb_finish("hls-card");
}
