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
} train_args;

#define TRAIN_MAX_OPTS 56

void train_args_default(train_args *a);
/* Fills table with the shared options; returns how many. */
int  train_args_table(train_args *a, opt *table);
/* Validates the string-valued options into the library's configs. */
int  train_args_configure(const train_args *a, nm_train_config *tc, nm_spec_options *so);
/* Loads the train and test sets of --data. */
int  load_sets(const char *dir, nm_dataset **train, nm_dataset **test);
/* Runs a whole training run: builds or resumes the model, trains, evaluates, saves the
** model to model_path and the report to report_path (either may be NULL). Returns the
** exit code. *eval_out gets the final test evaluation. */
int  run_training(const char *command, const train_args *a, const char *model_path, const char *ckpt_path, const char *report_path,
                  nm_eval_result *eval_out);
/* Accuracy of `samples` samples of chip profile prof (seeds seed, seed + 1, ...) at each
** device time: one line per time (mean +- std over samples), progress on stderr unless
** quiet, and the report's "chip" object when rep is not NULL. Returns the exit code. */
int  chip_eval(const nm_graph *g, const nm_dataset *test, nm_train_config *tc, const nm_chip_profile *prof, int samples,
               uint64_t seed, const double *times, int n_times, int quiet, nm_report *rep);
/* Adds the evaluation's numbers to a report under `key`. */
void report_eval(nm_report *r, const char *key, const nm_graph *g, const nm_eval_result *ev);

#endif
