/*
** The figures the long-running commands write next to their reports (--figures DIR; the
** demo always): the training curve, the activity of a trained model on a few test samples
** (raster, traces, firing rates), conductance histograms of a chip sample and accuracy
** against device time. Also the readers `neuromorph plot` shares with them.
*/
#ifndef NM_CLI_FIGURES_H
#define NM_CLI_FIGURES_H

#include <neuromorph/neuromorph.h>

/* Makes DIR if missing (one level); exit code 0, or 1 after a line naming the problem. */
int fig_mkdir(const char *cmd, const char *dir);

/* DIR/fig_curve.png from a training run's history. Exit code. */
int fig_curve(const nm_train_result *res, const char *dir, nm_report *rep);

/* Runs g (ideal software) on the first test samples and writes DIR/fig_raster.png (the
** first spiking layer, 8 samples back to back), DIR/fig_traces.png (membrane and input
** current of 3 neurons of sample 1, threshold dashed), DIR/fig_rates.png (firing rate
** per neuron of every spiking layer over up to 200 samples) and DIR/recording.json (what
** they show, for `neuromorph plot`), and for image data DIR/fig_inputs.png (those 8
** samples). Figure paths go into rep under "figures". */
int fig_activity(const nm_graph *g, const nm_dataset *test, const nm_train_config *tc, const char *dir, nm_report *rep);

/* DIR/fig_conductance.png: the conductance difference G+ - G- of the first analog layer
** of chip sample `seed` of prof: the targets, 1 s after programming and after the last of
** `times` (device drift). Nothing for digital profiles. Exit code. */
int fig_conductances(const nm_graph *g, const nm_chip_profile *prof, uint64_t seed, const double *times, int n_times,
                     const char *dir, nm_report *rep);

/* DIR/<name>.png: accuracy (mean +- std over chip samples) against device time. */
int fig_chip_time(const double *times, const double *mean, const double *sd, int n, const char *label, const char *name,
                  const char *dir, nm_report *rep);

/* A device time for a tick or label: "1 s", "1 h", "30 d", "1 y" (the largest unit that fits). */
void fig_duration_name(double s, char *buf, size_t cap);

#endif
