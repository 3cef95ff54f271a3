/*
** The hardware-aware side of `train`: turns --chip, --in-loop, --progressive, --train-only,
** --weight-noise, --insitu and --drift-comp into a chip sample, a device and an in-situ
** learner, and checks that the methods and the profile fit together before any work starts.
*/
#include "train_args.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int parse_drift_comp(const char *cmd, const char *s, nm_drift_comp *out) {
    if (nm_drift_comp_parse(s, out)) {
        fprintf(stderr, "neuromorph %s: --drift-comp: %s\n", cmd, nm_errmsg());
        return 2;
    }
    return 0;
}

static int usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "neuromorph train: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 2;
}

/* --train-only: everything with parameters frozen except the named nodes ("last": the
** last weight layer). */
static int parse_train_only(const char *list, const nm_graph *g, uint8_t *frozen) {
    const int nn = nm_graph_n_nodes(g);
    for (int j = 0; j < nn; j++) {
        int64_t off[3], len[3];
        frozen[j] = nm_node_param_ranges(nm_graph_node(g, j), off, len) > 0;
    }
    if (!strcmp(list, "last")) {
        for (int j = nn - 1; j >= 0; j--)
            if (nm_node_weight_count(nm_graph_node(g, j)) > 0) { frozen[j] = 0; return 0; }
        return usage_error("--train-only last: the model has no weight layer");
    }
    char buf[512];
    if (strlen(list) >= sizeof buf) return usage_error("--train-only: the list is too long");
    strcpy(buf, list);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int found = -1;
        for (int j = 0; j < nn; j++)
            if (!strcmp(nm_graph_node(g, j)->name, tok)) found = j;
        if (found < 0) return usage_error("--train-only: the model has no node '%s' (see neuromorph eval --model M)", tok);
        int64_t off[3], len[3];
        if (nm_node_param_ranges(nm_graph_node(g, found), off, len) == 0)
            return usage_error("--train-only: node '%s' has no parameters to train", tok);
        frozen[found] = 0;
    }
    return 0;
}

int hw_setup(const train_args *a, nm_graph *g, nm_train_config *tc, hw_run *hr) {
    memset(hr, 0, sizeof *hr);
    nm_status st;
    int rc;
    nm_wnoise_kind wk;
    if (nm_wnoise_parse(a->weight_noise, &wk)) return usage_error("--weight-noise: %s", nm_errmsg());
    if ((rc = parse_drift_comp("train", a->drift_comp, &hr->dc))) return rc;
    const int on_chip = a->in_loop || a->progressive;
    if (a->chip) {
        if ((st = nm_chip_profile_load(a->chip, &hr->prof))) return cli_fail(st);
        hr->has_prof = 1;
    }
    /* what needs what */
    if (on_chip && !a->chip) return usage_error("--in-loop and --progressive train on a chip: give --chip PROFILE");
    if (a->reprogram_tol > 0 && !on_chip) return usage_error("--reprogram-tol sets how a chip in the loop is written: add --in-loop or --progressive");
    if (a->progressive && a->train_only) return usage_error("--progressive chooses the trained layers itself: drop --train-only");
    if (a->insitu && on_chip) return usage_error("--insitu writes to its own devices: it cannot be combined with --in-loop or --progressive");
    if (a->insitu && a->train_only) return usage_error("--insitu re-programs every layer at a transfer: it cannot be combined with --train-only");
    if (wk == NM_WNOISE_NONE && (a->noise > 0)) return usage_error("--noise needs --weight-noise additive, relative or device");
    if (wk == NM_WNOISE_DEVICE) {
        if (!a->chip) return usage_error("--weight-noise device follows a device model: give --chip PROFILE (an analog one)");
        if (!hr->prof.analog)
            return usage_error("--weight-noise device: chip profile '%s' is digital and has no device model", hr->prof.name);
    }
    if (hr->dc != NM_DRIFT_COMP_NONE && !on_chip)
        return usage_error("--drift-comp applies to a chip in the loop: add --in-loop (or use it with eval --chip)");
    if (hr->dc != NM_DRIFT_COMP_NONE && !hr->prof.analog)
        return usage_error("--drift-comp: chip profile '%s' is digital: there is no drift to compensate", hr->prof.name);
    if (a->chip && !on_chip && wk != NM_WNOISE_DEVICE && !a->insitu)
        return usage_error("--chip is used by --in-loop, --progressive, --weight-noise device or --insitu mixed; none was given");

    tc->noise.kind = wk;
    tc->noise.sigma = a->noise;
    tc->noise.quant_bits = a->quant_bits;
    tc->noise.clip = a->weight_clip;
    if (hr->has_prof && hr->prof.analog && (wk == NM_WNOISE_DEVICE || a->insitu)) {
        if ((st = nm_device_create(&hr->prof.device, &hr->dev))) return cli_fail(st);
    }
    if (wk == NM_WNOISE_DEVICE) {
        hr->dn = (nm_device_noise){hr->dev, a->noise > 0 ? a->noise : 1.0f, a->seed};
        tc->noise.device = nm_device_noise_fn;
        tc->noise.device_ctx = &hr->dn;
    }
    if (a->train_only) {
        if (!(hr->frozen = calloc((size_t)nm_graph_n_nodes(g), 1))) return cli_fail(nm__error(NM_NOMEM, "out of memory"));
        if ((rc = parse_train_only(a->train_only, g, hr->frozen))) return rc;
        tc->frozen = hr->frozen;
    }
    if (a->insitu) {
        nm_insitu_config ic;
        if (!strcmp(a->insitu, "pulsed")) {
            nm_insitu_config_default(NM_INSITU_PULSED, &ic);
            ic.dw_min = a->dw_min;
        } else if (!strcmp(a->insitu, "mixed")) {
            if (!a->chip) return usage_error("--insitu mixed programs PCM devices: give --chip pcm (or another PCM profile)");
            if (!hr->prof.analog || hr->prof.device.kind != NM_DEV_PCM)
                return usage_error("--insitu mixed needs a PCM chip profile; '%s' holds %s devices", hr->prof.name,
                                   hr->prof.analog ? nm_device_kind_name(hr->prof.device.kind) : "digital");
            nm_insitu_config_default(NM_INSITU_MIXED, &ic);
            ic.transfer_every = (int64_t)a->transfer_every;
            ic.verify_iters = a->verify_iters;
        } else {
            return usage_error("--insitu: unknown kind '%s' (choose pulsed or mixed)", a->insitu);
        }
        ic.seed = a->seed;
        if ((st = nm_insitu_config_check(&ic)) || (st = nm_insitu_create(g, &ic, hr->dev, &hr->ins))) return cli_fail(st);
        nm_insitu_hooks(hr->ins, &hr->up);
        tc->updater = &hr->up;
    }
    if (on_chip) {
        if ((st = nm_chip_realize(g, &hr->prof, a->chip_seed, &hr->chip))) return cli_fail(st);
        if (hr->dc != NM_DRIFT_COMP_NONE && (st = nm_chip_set_drift_comp(hr->chip, hr->dc))) return cli_fail(st);
        if ((st = nm_chip_set_reprogram_tol(hr->chip, a->reprogram_tol))) return cli_fail(st);
        nm_chip_hooks(hr->chip, &hr->hooks);
        tc->hooks = &hr->hooks;
        tc->in_loop = 1;
    }
    return 0;
}

void hw_free(hw_run *hr) {
    nm_chip_destroy(hr->chip);
    nm_insitu_destroy(hr->ins);
    nm_device_destroy(hr->dev);
    free(hr->frozen);
    memset(hr, 0, sizeof *hr);
}
