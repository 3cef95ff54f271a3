/*
** bench_map: mapping a million neurons onto the truenorth profile (4,096 cores of 256
** neurons, 256 axons and 65,536 synapses on a 64 x 64 mesh), and the chip's power on that
** network at a 20 Hz mean rate against the published 26 pJ per synaptic event.
**
** Network: an input of 65,536 neurons and 16 layers of 65,536 LIF-like neurons (1,048,576
** in all). Neuron i of a layer reads 128 distinct neurons, drawn by Philox, from one window
** of 256 neurons of the layer before; the window is chosen by a random permutation of the
** 256 windows, so a core's inputs come from one core somewhere else on the chip: a core of
** 256 neurons needs exactly 256 axons and holds 32,768 synapses, and the placement decides
** how far spikes travel. 128 active synapses per neuron at 20 Hz is the workload of the
** TrueNorth paper's power figures (Merolla et al., Science 2014).
**
** Printed (key=value): the mapping time with METIS and with linear placement, cores used,
** mean hops per packet for both; at 20 Hz every neuron of the input and the first 15 layers
** sends its spikes on (the last layer's go off-chip): synaptic events per second from the
** mapping's packets and the synapses they reach, the chip power at the profile's 26 pJ per
** event, and that power beside the paper's 63-65 mW; then a network one layer larger and the
** failure message it gets.
** usage: bench_map [--layers L] [--rate HZ]
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <neuromorph/map.h>

enum { WIDTH = 65536, WIN = 256, FAN = 128 };

static nm_status build(int layers, nm_map_net **out) {
    nm_status rc;
    nm_map_net *net;
    if ((rc = nm_map_net_create(WIDTH, &net))) return rc;
    int64_t *ptr = malloc(sizeof *ptr * (WIDTH + 1));
    int32_t *idx = malloc(sizeof *idx * (size_t)WIDTH * FAN);
    int32_t perm[WIDTH / WIN], pick[WIN];
    if (!ptr || !idx) {
        free(ptr), free(idx);
        nm_map_net_destroy(net);
        return nm__error(NM_NOMEM, "out of memory");
    }
    nm_rng r;
    for (int k = 1; k <= layers && !rc; k++) {
        nm_rng_init(&r, 2385, (uint64_t)k);
        for (int w = 0; w < WIDTH / WIN; w++) perm[w] = w;
        for (int w = WIDTH / WIN - 1; w > 0; w--) {
            int q = (int)nm_rng_below(&r, (uint32_t)w + 1), t = perm[w];
            perm[w] = perm[q], perm[q] = t;
        }
        ptr[0] = 0;
        for (int64_t i = 0; i < WIDTH; i++) {
            /* FAN of the window's 256 neurons: a partial Fisher-Yates shuffle */
            for (int t = 0; t < WIN; t++) pick[t] = t;
            for (int t = 0; t < FAN; t++) {
                int q = t + (int)nm_rng_below(&r, (uint32_t)(WIN - t)), s = pick[t];
                pick[t] = pick[q], pick[q] = s;
                idx[i * FAN + t] = perm[i / WIN] * WIN + pick[t];
            }
            ptr[i + 1] = (i + 1) * FAN;
        }
        char name[16];
        snprintf(name, sizeof name, "layer%d", k);
        if (!(rc = nm_map_net_add_pop(net, name, WIDTH, NULL))) rc = nm_map_net_add_sparse(net, k - 1, k, ptr, idx);
    }
    free(ptr), free(idx);
    if (rc) nm_map_net_destroy(net);
    else *out = net;
    return rc;
}

int main(int argc, char **argv) {
    int layers = 16;
    double rate = 20;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--layers") && i + 1 < argc) layers = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rate") && i + 1 < argc) rate = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_map [--layers L] [--rate HZ]\n");
            return 2;
        }
    }
    nm_chip_profile p;
    nm_core_limits lim;
    nm_map_net *net = NULL;
    nm_mapping *m = NULL, *ml = NULL;
    nm_map_options o;
    if (nm_chip_profile_load("truenorth", &p) || build(layers, &net)) {
        fprintf(stderr, "bench_map: %s\n", nm_errmsg());
        return 1;
    }
    nm_core_limits_from_profile(&p, &lim);
    nm_map_options_default(&o);
    if (nm_map(net, &lim, &o, &m)) {
        fprintf(stderr, "bench_map: %s\n", nm_errmsg());
        return 1;
    }
    o.place = NM_PLACE_LINEAR;
    if (nm_map(net, &lim, &o, &ml)) {
        fprintf(stderr, "bench_map: %s\n", nm_errmsg());
        return 1;
    }
    int64_t neurons = 0;
    for (int q = 1; q < nm_map_net_n_pops(net); q++) neurons += nm_map_net_pop_size(net, q);
    double u[3];
    int64_t pk, hp, pkl, hpl;
    nm_mapping_summary(m, u, &pk, &hp);
    nm_mapping_summary(ml, u, &pkl, &hpl);
    printf("neurons=%lld cores_used=%d of=%d fits=%d\n", (long long)neurons, m->n_cores, lim.cores, m->fits);
    printf("map_seconds_metis=%.3f map_seconds_linear=%.3f\n", m->seconds, ml->seconds);
    printf("util_neurons=%.3f util_axons=%.3f util_synapses=%.3f\n", u[0], u[1], u[2]);
    printf("hops_per_packet_metis=%.3f hops_per_packet_linear=%.3f\n", (double)hp / (double)pk, (double)hpl / (double)pkl);

    /* 20 Hz: the spikes of every source neuron reach its packets' cores, and there the
    ** synapses that read it; synaptic events counted from the network itself */
    double events_per_spike = 0, sources = 0, packets_per_spike = 0;
    for (int k = 0; k < nm_map_net_n_projs(net); k++) {
        int src, dst;
        const int64_t *ptr;
        const int32_t *idx;
        nm_map_net_proj(net, k, &src, &dst, &ptr, &idx);
        events_per_spike += (double)ptr[nm_map_net_pop_size(net, dst)];
        sources += (double)nm_map_net_pop_size(net, src);
        for (int64_t j = 0; j < nm_map_net_pop_size(net, src); j++) packets_per_spike += m->pop_packets[src][j];
    }
    nm_energy_counts c;
    memset(&c, 0, sizeof c);
    c.n_steps = 1000, c.dt = 1e-3;   /* one second of real time, 1 ms ticks */
    c.syn_acs = events_per_spike * rate;   /* per second: every source neuron spikes `rate` times */
    c.packets = packets_per_spike * rate;
    nm_energy_result r;
    nm_energy_estimate(&p, m, &c, &r);
    printf("rate_hz=%.1f synaptic_events_per_s=%.4g synapses_per_spike=%.1f packets_per_s=%.4g\n", rate,
           c.syn_acs, events_per_spike / sources, c.packets);
    printf("power_w=%.4f published_typical_power_w=%.3f ratio=%.3f\n", r.energy_j / 1.0, r.reference_power_w,
           r.energy_j / r.reference_power_w);
    nm_mapping_destroy(m), nm_mapping_destroy(ml);
    nm_map_net_destroy(net);

    /* one layer more than the chip holds */
    if (build(layers + 1, &net)) {
        fprintf(stderr, "bench_map: %s\n", nm_errmsg());
        return 1;
    }
    o.place = NM_PLACE_METIS;
    if (nm_map(net, &lim, &o, &m)) {
        fprintf(stderr, "bench_map: %s\n", nm_errmsg());
        return 1;
    }
    printf("bigger_neurons=%lld bigger_fits=%d bigger_seconds=%.3f\nbigger_failure=%s\n",
           (long long)(neurons + WIDTH), m->fits, m->seconds, m->failure);
    nm_mapping_destroy(m);
    nm_map_net_destroy(net);
    return 0;
}
