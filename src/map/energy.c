/*
** energy.c: the counts of a run, NeuroBench's metrics, and the energy and latency they give
** on a chip profile, beside a dense GPU/CPU baseline.
**
** Counting. The network runs batch by batch through the executor (on a chip sample when
** the config carries its hooks), and after every pass the recorded outputs are read back:
** for every weight node, each non-zero input at each step costs as many synaptic
** operations as it has non-zero weights leaving it (an accumulate when the input is a
** spike, 0/1, a multiply-accumulate otherwise); for every population, the spikes of each
** neuron, which the mapping turns into packets and hops. An input held constant over the
** window (constant-current coding, one row) is presented at every step, as a chip would
** see it. Dense operations count every input and weight at every step.
**
** Energy = sum over terms of count x the profile's energy per operation, plus static
** power x latency x chips. Nothing else is added, so the estimate is linear in the counts
** and every joule is traceable to one profile number and its source.
*/
#include <neuromorph/map.h>
#include <neuromorph/viz.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EVAL_EPOCH 0xffffull   /* rate-coding key of evaluation (as nm_evaluate) */

/* Per weight node: non-zero fan-out and all fan-out of every input element. */
typedef struct wstat {
    int      node, in_node, recurrent;
    int64_t  n_in;
    int32_t *fan_nz, *fan_all;
} wstat;

static void fanouts(const nm_graph *g, const nm_node *nd, int32_t *nz, int32_t *all) {
    const float *W = nm_graph_params_const(g) + nd->w_off;
    memset(nz, 0, sizeof *nz * (size_t)nd->n_in);
    memset(all, 0, sizeof *all * (size_t)nd->n_in);
    if (nd->kind != NM_NODE_CONV) {
        for (int64_t i = 0; i < nd->n_out; i++)
            for (int64_t j = 0; j < nd->n_in; j++) nz[j] += W[i * nd->n_in + j] != 0.0f, all[j]++;
        return;
    }
    const nm_conv_geom *c = &nd->conv;
    const int64_t cpg_in = c->c_in / c->groups, cpg_out = c->c_out / c->groups;
    for (int64_t co = 0; co < c->c_out; co++) {
        const int64_t grp = co / cpg_out;
        for (int64_t oh = 0; oh < c->h_out; oh++)
            for (int64_t ow = 0; ow < c->w_out; ow++)
                for (int64_t q = 0; q < cpg_in; q++)
                    for (int a = 0; a < c->kh; a++) {
                        const int64_t ih = oh * c->sh - c->ph + (int64_t)a * c->dh;
                        if (ih < 0 || ih >= c->h_in) continue;
                        for (int b = 0; b < c->kw; b++) {
                            const int64_t iw = ow * c->sw - c->pw + (int64_t)b * c->dw;
                            if (iw < 0 || iw >= c->w_in) continue;
                            const int64_t in = ((grp * cpg_in + q) * c->h_in + ih) * c->w_in + iw;
                            const float w = W[((co * cpg_in + q) * c->kh + a) * c->kw + b];
                            nz[in] += w != 0.0f;
                            all[in]++;
                        }
                    }
    }
}

/* Adds the synaptic operations of one pass of weight node s. */
static void count_synops(const nm_exec *x, const wstat *s, int n_steps, double *acs, double *macs) {
    const nm_view v = nm_exec_output(x, s->in_node);
    const int64_t words = nm_bits_words(v.n);
    const double mult = v.rows == 1 ? n_steps : 1;
    /* a recurrent input at the last step feeds no later step */
    const int rows = s->recurrent ? v.rows - 1 : v.rows;
    double a = 0, m = 0;
    for (int t = 0; t < rows; t++)
        for (int b = 0; b < v.batch; b++) {
            const int64_t r = (int64_t)t * v.batch + b;
            if (v.bits) {
                const uint64_t *w = v.bits + r * words;
                for (int64_t k = 0; k < words; k++)
                    for (uint64_t bits = w[k]; bits; bits &= bits - 1) a += s->fan_nz[k * 64 + __builtin_ctzll(bits)];
            } else if (v.data) {
                const float *d = v.data + r * v.n;
                for (int64_t j = 0; j < v.n; j++)
                    if (d[j] == 1.0f) a += s->fan_nz[j];
                    else if (d[j] != 0.0f) m += s->fan_nz[j];
            }
        }
    *acs += a * mult;
    *macs += m * mult;
}

/* Adds per-neuron events of one pass of population node j: spikes, or non-zero values (the
** input); returns the total. */
static double count_events(const nm_exec *x, int j, int n_steps, double *per_neuron) {
    const nm_view v = nm_exec_output(x, j);
    const int64_t words = nm_bits_words(v.n);
    const double mult = v.rows == 1 ? n_steps : 1;
    double total = 0;
    for (int t = 0; t < v.rows; t++)
        for (int b = 0; b < v.batch; b++) {
            const int64_t r = (int64_t)t * v.batch + b;
            if (v.bits) {
                const uint64_t *w = v.bits + r * words;
                for (int64_t k = 0; k < words; k++)
                    for (uint64_t bits = w[k]; bits; bits &= bits - 1) {
                        if (per_neuron) per_neuron[k * 64 + __builtin_ctzll(bits)] += mult;
                        total += mult;
                    }
            } else if (v.data) {
                const float *d = v.data + r * v.n;
                for (int64_t i = 0; i < v.n; i++)
                    if (d[i] != 0.0f) {
                        if (per_neuron) per_neuron[i] += mult;
                        total += mult;
                    }
            }
        }
    return total;
}

/* Steps at which a membrane changed (from 0 before the first step). */
static double count_membrane(const nm_exec *x, int j) {
    nm_view v = nm_exec_membrane(x, j);
    if (!v.data) v = nm_exec_output(x, j);
    if (!v.data || v.bits) return 0;
    double n = 0;
    const int64_t row = (int64_t)v.batch * v.n;
    for (int t = 0; t < v.rows; t++)
        for (int64_t k = 0; k < row; k++) {
            const float prev = t ? v.data[(int64_t)(t - 1) * row + k] : 0.0f;
            n += v.data[(int64_t)t * row + k] != prev;
        }
    return n;
}

nm_status nm_energy_count(const nm_graph *g, const nm_mapping *m, const nm_dataset *d, const nm_train_config *cfg,
                          nm_energy_counts *c) {
    nm_status rc;
    const int nn = nm_graph_n_nodes(g);
    if ((rc = nm_train_config_check(cfg)) || (rc = nm_loss_check(g, cfg->readout, cfg->loss))) return rc;
    const int64_t n_in = nm_graph_input_size(g);
    if (nm_dataset_sample_size(d) != (int64_t)d->rows * d->cols)
        return nm__error(NM_UNSUPPORTED, "energy: event datasets (%d frames per sample) are not counted yet; use an image set",
                         d->steps);
    if ((int64_t)d->rows * d->cols != n_in)
        return nm__error(NM_SHAPE, "the data have %dx%d = %lld inputs per sample but the model's input takes %lld", d->rows,
                         d->cols, (long long)d->rows * d->cols, (long long)n_in);
    int64_t n = d->n;
    if (cfg->test_limit > 0 && cfg->test_limit < n) n = cfg->test_limit;
    if (n < 1) return nm__error(NM_INVAL, "no samples to count over");
    const int T = cfg->n_steps, B = cfg->eval_batch;

    nm_energy_counts r;
    memset(&r, 0, sizeof r);
    wstat *ws = calloc((size_t)nn, sizeof *ws);
    double **per = calloc((size_t)nn, sizeof *per);
    nm_exec *x = NULL;
    float *xin = nm_alloc(sizeof(float) * (size_t)B * (size_t)n_in), *spk = NULL;
    float *g_mem = nm_alloc(sizeof(float) * (size_t)T * B * (size_t)nm_graph_output_size(g));
    int *labels = malloc(sizeof *labels * (size_t)B);
    int64_t *idx = malloc(sizeof *idx * (size_t)B);
    int nw = 0;
    if (!ws || !per || !xin || !g_mem || !labels || !idx) { rc = nm__error(NM_NOMEM, "out of memory for counting"); goto done; }
    nm_encoder enc;
    nm_encoder_default(&enc, cfg->encoding, T, cfg->seed);
    if (cfg->encoding != NM_ENC_CURRENT && !(spk = nm_alloc(sizeof(float) * (size_t)T * B * (size_t)n_in))) {
        rc = nm__error(NM_NOMEM, "out of memory for counting");
        goto done;
    }

    /* static metrics and the weight nodes' fan-outs */
    double zeros = 0, dense_per_step = 0, state_floats = 0, bias = 0;
    for (int j = 0; j < nn; j++) {
        const nm_node *nd = nm_graph_node(g, j);
        if (nm_node_kind_neuron(nd->kind)) state_floats += 2.0 * nd->n_out;   /* membrane read and write */
        if (nd->kind != NM_NODE_AFFINE && nd->kind != NM_NODE_LINEAR && nd->kind != NM_NODE_CONV) continue;
        wstat *s = &ws[nw++];
        s->node = j;
        s->recurrent = (nd->flags & NM_NODE_RECURRENT) != 0;
        s->in_node = s->recurrent ? nd->rec : nm_graph_data_node(g, nd->src);
        s->n_in = nd->n_in;
        s->fan_nz = malloc(sizeof *s->fan_nz * (size_t)nd->n_in);
        s->fan_all = malloc(sizeof *s->fan_all * (size_t)nd->n_in);
        if (!s->fan_nz || !s->fan_all) { rc = nm__error(NM_NOMEM, "out of memory for counting"); goto done; }
        fanouts(g, nd, s->fan_nz, s->fan_all);
        const int64_t nwts = nm_node_weight_count(nd);
        const float *W = nm_graph_params_const(g) + nd->w_off;
        for (int64_t k = 0; k < nwts; k++) zeros += W[k] == 0.0f;
        r.weights += (double)nwts;
        if (nd->b_off >= 0) bias += nd->kind == NM_NODE_CONV ? (double)nd->conv.c_out : (double)nd->n_out;
        for (int64_t k = 0; k < nd->n_in; k++) dense_per_step += s->fan_all[k];
        state_floats += (double)nd->n_in + (double)nd->n_out;   /* inputs read, products written */
    }
    /* the parameters the nodes own (the block pads each to a multiple of 16), and the constants */
    double n_param = 0;
    for (int j = 0; j < nn; j++) {
        int64_t off[3], len[3];
        const int nr = nm_node_param_ranges(nm_graph_node(g, j), off, len);
        for (int q = 0; q < nr; q++) n_param += (double)len[q];
    }
    r.footprint_bytes = 4.0 * (n_param + (double)nm_graph_n_consts(g));
    r.connection_sparsity = r.weights > 0 ? zeros / r.weights : 0;
    r.weight_bytes_dense = 4.0 * (r.weights + bias);
    r.state_bytes_per_step = 4.0 * state_floats;
    r.syn_dense = dense_per_step * T;
    for (int j = 0; j < nn; j++)
        if (j == 0 || nm_node_kind_neuron(nm_graph_node(g, j)->kind)) {
            if (!(per[j] = calloc((size_t)nm_graph_node(g, j)->n_out, sizeof **per))) {
                rc = nm__error(NM_NOMEM, "out of memory for counting");
                goto done;
            }
            if (j > 0) r.neuron_updates += (double)nm_graph_node(g, j)->n_out * T;
        }

    nm_exec_config ec = {cfg->dt, T, B, cfg->sparse, cfg->sparse_max_density};
    if ((rc = nm_exec_create(g, &ec, &x))) goto done;
    nm_exec_set_hooks(x, cfg->hooks);
    int64_t correct = 0;
    for (int64_t first = 0; first < n; first += B) {
        const int bs = (int)(n - first < B ? n - first : B);
        for (int b = 0; b < bs; b++) idx[b] = first + b;
        nm_dataset_batch(d, idx, bs, xin, labels);
        const float *in = xin;
        if (cfg->encoding != NM_ENC_CURRENT) {
            nm_encode(&enc, xin, bs, n_in, idx, EVAL_EPOCH, spk);
            in = spk;
        }
        if ((rc = nm_exec_forward(x, in, nm_encoder_time_rows(&enc), bs))) goto done;
        int hits = 0;
        if (cfg->loss == NM_LOSS_MSE)
            nm_loss_mse_count(x, labels, cfg->mse_correct_rate, cfg->mse_incorrect_rate, g_mem, &hits);
        else
            nm_loss_ce(x, cfg->readout, labels, g_mem, &hits);
        correct += hits;
        for (int k = 0; k < nw; k++) count_synops(x, &ws[k], T, &r.syn_acs, &r.syn_macs);
        for (int j = 0; j < nn; j++) {
            if (!per[j]) continue;
            const nm_node *nd = nm_graph_node(g, j);
            if (j == 0) {
                r.input_events += count_events(x, 0, T, per[0]);
                continue;
            }
            if (nm_node_kind_spiking(nd->kind)) {
                const double s = count_events(x, j, T, per[j]);
                r.spikes += s;
                r.active += s;
                r.activations += (double)nd->n_out * T * bs;
            }
            r.membrane_updates += count_membrane(x, j);
        }
    }
    r.accuracy = (double)correct / (double)n;

    /* routing: every event of a neuron is one spike that becomes its packets; populations
    ** of nm_map_net_from_graph(g) are the input and the neuron nodes in node order */
    if (m) {
        for (int j = 0, p = 0; j < nn; j++) {
            if (!per[j]) continue;
            if (p >= m->n_pops) break;
            const int64_t size = nm_graph_node(g, j)->n_out;
            for (int64_t i = 0; i < size; i++) {
                r.packets += per[j][i] * m->pop_packets[p][i];
                r.hops += per[j][i] * (double)m->pop_hops[p][i];
            }
            p++;
        }
        r.psum_packets = (double)m->psum_packets * T * (double)n;
        r.psum_hops = (double)m->psum_hops * T * (double)n;
        for (int k = 0; k < m->n_cores; k++) {
            r.xbar_reads += (double)T * (double)n;
            r.column_reads += (double)m->core_neurons[k] * T * (double)n;
        }
    }

    /* means per inference */
    const double inv = 1.0 / (double)n;
    r.spikes *= inv, r.input_events *= inv, r.syn_acs *= inv, r.syn_macs *= inv;
    r.membrane_updates *= inv, r.packets *= inv, r.hops *= inv, r.psum_packets *= inv, r.psum_hops *= inv;
    r.xbar_reads *= inv, r.column_reads *= inv, r.activations *= inv, r.active *= inv;
    r.activation_sparsity = r.activations > 0 ? 1.0 - r.active / r.activations : 0;
    r.samples = n;
    r.gpu_batch = 1;
    r.n_steps = T;
    r.dt = cfg->dt;
    *c = r;
    rc = NM_OK;
done:
    if (ws)
        for (int k = 0; k < nw; k++) free(ws[k].fan_nz), free(ws[k].fan_all);
    if (per)
        for (int j = 0; j < nn; j++) free(per[j]);
    free(ws), free(per);
    nm_exec_destroy(x);
    nm_free(xin), nm_free(spk), nm_free(g_mem);
    free(labels), free(idx);
    return rc;
}

/* ---- the estimate ------------------------------------------------------------------------- */

/* The profile's energy `name` (its unit converted to J, or W for _w), or -1 when absent. */
static double energy_of(const nm_chip_profile *p, const char *name) {
    for (int k = 0; k < p->n_energy; k++)
        if (!strcmp(p->energy_name[k], name)) {
            const size_t len = strlen(name);
            const double v = p->energy_value[k];
            if (len > 3 && !strcmp(name + len - 3, "_pj")) return v * 1e-12;
            if (len > 3 && !strcmp(name + len - 3, "_uj")) return v * 1e-6;
            return v;
        }
    return -1;
}

static void term(nm_energy_result *r, const char *label, const char *key, double count, double unit) {
    if (unit < 0 || r->n_terms >= NM_ENERGY_MAX_TERMS) return;
    const int k = r->n_terms++;
    snprintf(r->term[k], sizeof r->term[k], "%s", label);
    snprintf(r->term_key[k], sizeof r->term_key[k], "%s", key);
    r->term_count[k] = count;
    r->term_unit[k] = unit;
    r->term_j[k] = count * unit;
    r->energy_j += count * unit;
}

nm_status nm_energy_estimate(const nm_chip_profile *p, const nm_mapping *m, const nm_energy_counts *c,
                             nm_energy_result *r) {
    if (!(p->time_scale > 0)) return nm__error(NM_INVAL, "profile '%s' has no time scale", p->name);
    memset(r, 0, sizeof *r);
    r->chips = m ? m->chips : 1;
    r->latency_s = c->n_steps * c->dt / p->time_scale;
    const char *syn_key = energy_of(p, "synaptic_op_pj") >= 0 ? "synaptic_op_pj" : "synaptic_event_pj";
    const double e_syn = energy_of(p, syn_key), e_mac = energy_of(p, "mac_pj");
    term(r, "synaptic ACs", syn_key, c->syn_acs, e_syn);
    if (e_mac >= 0) term(r, "synaptic MACs", "mac_pj", c->syn_macs, e_mac);
    else term(r, "synaptic MACs", syn_key, c->syn_macs, e_syn);
    term(r, "neuron updates", "neuron_update_pj", c->neuron_updates, energy_of(p, "neuron_update_pj"));
    term(r, "packets", "packet_pj", c->packets + c->psum_packets, energy_of(p, "packet_pj"));
    term(r, "hops", "hop_pj", c->hops + c->psum_hops, energy_of(p, "hop_pj"));
    /* bit-serial inputs: every column is converted once per input bit */
    const double bits = p->analog && p->xbar.dac_bits > 0 ? p->xbar.dac_bits : 1, conv = c->column_reads * bits;
    term(r, "crossbar reads", "xbar_read_pj", c->xbar_reads, energy_of(p, "xbar_read_pj"));
    term(r, "ADC conversions", "adc_conversion_pj", conv, energy_of(p, "adc_conversion_pj"));
    term(r, "shift-add", "accumulate_pj", conv + c->psum_packets, energy_of(p, "accumulate_pj"));
    term(r, "periphery", "periphery_pj", conv, energy_of(p, "periphery_pj"));
    term(r, "static", "static_power_w", r->latency_s * r->chips, energy_of(p, "static_power_w"));
    r->has_energy = r->n_terms > 0;
    const double ref = energy_of(p, "image_uj"), pw = energy_of(p, "typical_power_w");
    r->reference_j = ref > 0 ? ref : 0;
    r->reference_power_w = pw > 0 ? pw : 0;

    r->gpu_mac_j = c->syn_dense * NM_GPU_MAC_PJ * 1e-12;
    r->gpu_neuron_j = c->neuron_updates * NM_GPU_NEURON_OPS * NM_GPU_ADD_PJ * 1e-12;
    r->gpu_dram_j = c->weight_bytes_dense * NM_GPU_DRAM_PJ_BYTE * 1e-12 / (c->gpu_batch >= 1 ? c->gpu_batch : 1);
    r->gpu_sram_j = c->state_bytes_per_step * c->n_steps * NM_GPU_SRAM_PJ_BYTE * 1e-12;
    r->gpu_j = r->gpu_mac_j + r->gpu_neuron_j + r->gpu_dram_j + r->gpu_sram_j;
    r->ratio = r->energy_j > 0 ? r->gpu_j / r->energy_j : 0;
    return NM_OK;
}

void nm_energy_report(const nm_energy_result *r, const nm_energy_counts *c, nm_report *rep, const char *key) {
    char k[160];
#define KEY(s) (snprintf(k, sizeof k, "%s.%s", key, s), k)
    nm_report_set_num(rep, KEY("energy_per_inference_j"), r->energy_j);
    nm_report_set_num(rep, KEY("latency_per_inference_s"), r->latency_s);
    nm_report_set_int(rep, KEY("chips"), r->chips);
    nm_report_set_bool(rep, KEY("profile_has_energy"), r->has_energy);
    for (int t = 0; t < r->n_terms; t++) {
        nm_report *it = nm_report_create(NULL);
        if (!it) return;
        nm_report_set_str(it, "term", r->term[t]);
        nm_report_set_str(it, "profile_energy", r->term_key[t]);
        nm_report_set_num(it, "count", r->term_count[t]);
        nm_report_set_num(it, "unit_j", r->term_unit[t]);
        nm_report_set_num(it, "energy_j", r->term_j[t]);
        nm_report_push_obj(rep, KEY("breakdown"), it);
    }
    nm_report_set_num(rep, KEY("gpu_baseline.energy_j"), r->gpu_j);
    nm_report_set_num(rep, KEY("gpu_baseline.mac_j"), r->gpu_mac_j);
    nm_report_set_num(rep, KEY("gpu_baseline.neuron_j"), r->gpu_neuron_j);
    nm_report_set_num(rep, KEY("gpu_baseline.dram_j"), r->gpu_dram_j);
    nm_report_set_num(rep, KEY("gpu_baseline.sram_j"), r->gpu_sram_j);
    if (c) nm_report_set_num(rep, KEY("gpu_baseline.batch"), c->gpu_batch >= 1 ? c->gpu_batch : 1);
    nm_report_set_num(rep, KEY("gpu_over_chip"), r->ratio);
    if (r->reference_j > 0) nm_report_set_num(rep, KEY("published_energy_per_inference_j"), r->reference_j);
    if (r->reference_power_w > 0) nm_report_set_num(rep, KEY("published_typical_power_w"), r->reference_power_w);
    if (c) {
        nm_report_set_int(rep, KEY("counts.samples"), c->samples);
        nm_report_set_int(rep, KEY("counts.steps"), c->n_steps);
        nm_report_set_num(rep, KEY("counts.dt_s"), c->dt);
        nm_report_set_num(rep, KEY("counts.accuracy"), c->accuracy);
        nm_report_set_num(rep, KEY("counts.spikes"), c->spikes);
        nm_report_set_num(rep, KEY("counts.input_events"), c->input_events);
        nm_report_set_num(rep, KEY("counts.packets"), c->packets);
        nm_report_set_num(rep, KEY("counts.hops"), c->hops);
        nm_report_set_num(rep, KEY("counts.partial_sum_packets"), c->psum_packets);
        nm_report_set_num(rep, KEY("counts.crossbar_reads"), c->xbar_reads);
        nm_report_set_num(rep, KEY("counts.column_reads"), c->column_reads);
        nm_report_set_num(rep, KEY("neurobench.footprint_bytes"), c->footprint_bytes);
        nm_report_set_num(rep, KEY("neurobench.connection_sparsity"), c->connection_sparsity);
        nm_report_set_num(rep, KEY("neurobench.activation_sparsity"), c->activation_sparsity);
        nm_report_set_num(rep, KEY("neurobench.synaptic_operations.effective_macs"), c->syn_macs);
        nm_report_set_num(rep, KEY("neurobench.synaptic_operations.effective_acs"), c->syn_acs);
        nm_report_set_num(rep, KEY("neurobench.synaptic_operations.dense"), c->syn_dense);
        nm_report_set_num(rep, KEY("neurobench.membrane_updates"), c->membrane_updates);
        nm_report_set_num(rep, KEY("neurobench.neuron_updates"), c->neuron_updates);
    }
#undef KEY
}

nm_status nm_energy_plot(const nm_energy_result *r, const char *title, const char *path) {
    if (r->n_terms < 1) return nm__error(NM_INVAL, "no energy terms to plot (the profile gives no energy figures)");
    const char *labels[NM_ENERGY_MAX_TERMS];
    double y[NM_ENERGY_MAX_TERMS];
    for (int t = 0; t < r->n_terms; t++) labels[t] = r->term[t], y[t] = r->term_j[t] * 1e6;
    nm_plot p;
    nm_plot_default(&p);
    p.title = title;
    p.ylabel = "energy per inference (uJ)";
    nm_series s = {"chip", NULL, y, NULL, r->n_terms};
    return nm_plot_bars(&p, labels, r->n_terms, &s, 1, path);
}

nm_status nm_energy_run(const nm_graph *g, const nm_chip_profile *p, const nm_dataset *d, const nm_train_config *cfg,
                        nm_energy_result *r, nm_energy_counts *c, nm_mapping **m_out) {
    nm_status rc;
    nm_map_net *net = NULL;
    nm_mapping *m = NULL;
    nm_energy_counts cnt;
    nm_core_limits lim;
    nm_map_options o;
    nm_core_limits_from_profile(p, &lim);
    nm_map_options_default(&o);
    if ((rc = nm_map_net_from_graph(g, &net)) || (rc = nm_map(net, &lim, &o, &m)) ||
        (rc = nm_energy_count(g, m, d, cfg, &cnt)) || (rc = nm_energy_estimate(p, m, &cnt, r)))
        goto done;
    if (c) *c = cnt;
    if (m_out) *m_out = m, m = NULL;
done:
    nm_mapping_destroy(m);
    nm_map_net_destroy(net);
    return rc;
}
