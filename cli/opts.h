/*
** A small table-driven option parser shared by every subcommand: "--name value" and
** "--name=value", typed and range-checked values, and one clear line for every mistake.
*/
#ifndef NM_CLI_OPTS_H
#define NM_CLI_OPTS_H

#include <stdint.h>
#include <stdio.h>

typedef enum { OPT_FLAG, OPT_INT, OPT_U64, OPT_FLOAT, OPT_STR } opt_type;

typedef struct opt {
    const char *name;     /* without the leading "--" */
    opt_type    type;
    void       *dst;      /* int*, int*, uint64_t*, float*, const char** */
    const char *meta;     /* value placeholder in --help ("N", "PATH") */
    const char *help;
    double      lo, hi;   /* inclusive range for numbers (lo > hi: unchecked) */
    int         seen;     /* set by the parser */
} opt;

/* Parses argv[1..argc) against table. Returns 0 on success, 1 if --help was printed, and
** 2 after printing "neuromorph CMD: ..." for a mistake. */
int  opts_parse(const char *cmd, int argc, char **argv, opt *table, int n);
void opts_usage(FILE *f, const char *cmd, const char *usage, const char *about, const opt *table, int n);
/* The entry for `name`, for checking whether it was given. */
const opt *opts_find(const opt *table, int n, const char *name);

/* Prints "neuromorph: error: MSG" (the library's last detail message, or the status text)
** and returns 1, the exit code for a failed command. */
int cli_fail(int status);

/* "dir/model.nmm" -> "dir/model" + suffix (the extension, if any, is replaced); malloc'd,
** NULL when out of memory. Names the files written beside a model (checkpoint, report). */
char *cli_sibling(const char *path, const char *suffix);

/* Set by SIGINT/SIGTERM; training checkpoints and stops when it is set. */
#include <signal.h>
extern volatile sig_atomic_t cli_stop;
void cli_install_signals(void);

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_device(int argc, char **argv);
int cmd_chip(int argc, char **argv);
int cmd_nir(int argc, char **argv);
int cmd_events(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_energy(int argc, char **argv);
int cmd_map(int argc, char **argv);
int cmd_sim(int argc, char **argv);
/* `train --method stdp|evolve`: the learning rules without backpropagation (cmd_learn.c). */
int cmd_train_method(const char *method, int argc, char **argv);

#endif
