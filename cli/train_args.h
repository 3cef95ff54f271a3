/*
** The options shared by `train` and `demo` (the demo is a training run with a report), and
** the code that turns them into library configs and runs them.
*/
#ifndef NM_CLI_TRAIN_ARGS_H
#define NM_CLI_TRAIN_ARGS_H

#include <neuromorph/neuromorph.h>

#include "opts.h"

typedef struct train_args {
    int         help, quiet, resume;
    uint64_t    seed;
    int         threads;
    const char *data, *out, *report, *checkpoint;
    const char *arch, *encoding, *readout, *surrogate, *reset;
    const char *neuron, *readout_neuron, *loss, *optimizer, *schedule, *sparse;
    int         epochs, batch, steps, learn_neuron, warmup;
    float       lr, lr_final, weight_decay, dt, slope, tau_mem, tau_out, tau_syn, threshold, ckpt_every;
    float       momentum, clip, rate_reg;
    uint64_t    train_limit, test_limit;
    /* hardware-aware training */
    const char *init, *chip, *weight_noise, *train_only, *insitu, *drift_comp;
    const char *method;   /* bptt here; the others go to cmd_train_method */
    const char *figures;  /* --figures DIR: figures next to the report (NULL: none) */
    uint64_t    chip_seed, transfer_every;
    int         in_loop, quant_bits, progressive;
    float       noise, weight_clip, dw_min;
    int         verify_iters;
    float       reprogram_tol;
} train_args;

#define TRAIN_MAX_OPTS 80

void train_args_default(train_args *a);
/* Fills table with the shared options; returns how many. */
int  train_args_table(train_args *a, opt *table);
/* Validates the string-valued options into the library's configs. */
int  train_args_configure(const train_args *a, nm_train_config *tc, nm_spec_options *so);
/* Loads the train and test sets of --data. */
int  load_sets(const char *dir, nm_dataset **train, nm_dataset **test);
/* One split ("train", "t10k") of an idx directory or of an event dataset's directory. */
nm_status load_split(const char *dir, const char *split, nm_dataset **out);
/* Runs a whole training run: builds or resumes the model, trains, evaluates, saves the
** model to model_path and the report to report_path (either may be NULL). Returns the
** exit code. *eval_out gets the final test evaluation. */
int  run_training(const char *command, const train_args *a, const char *model_path, const char *ckpt_path, const char *report_path,
                  nm_eval_result *eval_out);
/* What chip_eval runs: `samples` samples of prof (seeds seed, seed + 1, ...) at each of
** n_times device times, with drift compensation dc. */
typedef struct chip_eval_spec {
    const nm_chip_profile *prof;
    int           samples;
    uint64_t      seed;
    const double *times;
    int           n_times;
    nm_drift_comp dc;
    int           quiet;     /* no per-sample progress on stderr */
    nm_report    *rep;       /* the report gets object `key` (may be NULL) */
    const char   *key;
    double       *mean, *sd; /* n_times each: accuracy over samples (may be NULL) */
} chip_eval_spec;

/* One line per time (mean +- std over samples). Returns the exit code. */
int  chip_eval(const nm_graph *g, const nm_dataset *test, nm_train_config *tc, const chip_eval_spec *s);
/* What a hardware-aware run holds: the chip sample in the loop, the device of device
** noise or in-situ updates, the in-situ learner, frozen nodes. */
typedef struct hw_run {
    nm_chip_profile  prof;
    int              has_prof;
    nm_chip         *chip;
    nm_exec_hooks    hooks;
    nm_device       *dev;
    nm_device_noise  dn;
    nm_insitu       *ins;
    nm_update_hooks  up;
    uint8_t         *frozen;
    nm_drift_comp    dc;
} hw_run;

/* Checks the hardware options against each other and the profile, then sets tc up for them
** on g (realizes the chip, creates the learner). Returns the exit code. */
int  hw_setup(const train_args *a, nm_graph *g, nm_train_config *tc, hw_run *hr);
void hw_free(hw_run *hr);
/* Parses a drift-compensation name for the CLI (exit code). */
int  parse_drift_comp(const char *cmd, const char *s, nm_drift_comp *out);

/* Adds the evaluation's numbers to a report under `key`. */
void report_eval(nm_report *r, const char *key, const nm_graph *g, const nm_eval_result *ev);

#endif
