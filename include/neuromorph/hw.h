/*
** hw: analog neuromorphic hardware. Device models (ideal, quantized, RRAM, PCM, measured
** tables), crossbar tiles that compute a matrix-vector product with those devices and
** their converters, analog neurons with fixed-pattern mismatch and calibration, chip
** profiles read from data files, and a chip sample: a graph realized on a profile.
**
** Units. Conductances are in units of the device's g_max (0 .. 1); the profile's g_max_us
** converts them to microsiemens where a formula needs physical units. Time is in seconds
** since the end of programming. Weights are dimensionless; a layer's weights are mapped
** with one scale, its largest |w| going to g_max (aihwkit's single-pair converter).
**
** Randomness. Every draw is keyed (seed, stream, index) through Philox, so a chip sample,
** its drift and its read noise are the same whatever the thread count.
**
** The formulas and constants, with their sources, are in the project's device notes and
** in each profile file (profiles/ *.json).
*/
#ifndef NEUROMORPH_HW_H
#define NEUROMORPH_HW_H

#include "base.h"
#include "model.h"
#include "neuron.h"
#include "run.h"
#include "train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- devices ------------------------------------------------------------- */

typedef enum {
    NM_DEV_IDEAL     = 0,   /* the target conductance, exactly                                  */
    NM_DEV_QUANTIZED = 1,   /* the nearest of n levels (uniform, or a measured level table)      */
    NM_DEV_RRAM      = 2,   /* write-verify noise, relaxation, read noise, stuck faults, d2d     */
    NM_DEV_PCM       = 3,   /* aihwkit's PCM statistical model: prog. noise, drift, 1/f noise    */
    NM_DEV_TABLE     = 4,   /* measured: target -> (mean, std), interpolated                     */
    NM_DEV_CUSTOM    = 5    /* user ops                                                          */
} nm_device_kind;

const char *nm_device_kind_name(nm_device_kind k);
nm_status   nm_device_kind_parse(const char *s, nm_device_kind *out); /* ideal quantized rram pcm table */

#define NM_DEV_MAX_TABLE 256

/* Every field of every built-in kind; a kind reads only its own (and `levels`, which any
** kind accepts: targets are rounded to the nearest level before programming). */
typedef struct nm_device_params {
    nm_device_kind kind;
    float  g_max_us;          /* g_max in uS (default 25)                                    */
    /* quantization (any kind): 0 = analog; else `levels` uniform levels over [0, 1], or
    ** the n_level_table levels given (ascending, in [0, 1]) */
    int    levels;
    int    n_level_table;
    float  level_table[NM_DEV_MAX_TABLE];
    /* RRAM */
    float  g_min;             /* conductance of a device at target 0 (units of g_max)        */
    float  prog_sigma[4];     /* write-verify noise sigma(x) = c0 + c1 x + c2 x^2 + c3 x^3,
                              ** x = target / g_max, sigma in units of g_max                 */
    float  relax_mu, relax_sigma;  /* relaxation: mean shift and spread per ln(1 + t/relax_t0),
                                   ** units of g_max (the spread grows per device, monotonic) */
    float  relax_t0;          /* s                                                            */
    float  read_sigma;        /* fresh read noise per read, relative to the conductance       */
    float  p_stuck_on, p_stuck_off;   /* fault rates: stuck at g_max, stuck at g_min         */
    float  d2d;               /* device-to-device spread of g_max, relative                   */
    /* PCM (aihwkit PCMLikeNoiseModel) */
    float  pcm_prog_coeff[3]; /* uS at the reference g_max of 25 uS                            */
    float  pcm_t0, pcm_t_read;     /* s                                                        */
    float  pcm_prog_scale, pcm_drift_scale, pcm_read_scale;
    /* TABLE: n_table rows (target, mean, std), targets ascending, units of g_max */
    int    n_table;
    float  table[NM_DEV_MAX_TABLE][3];
} nm_device_params;

/* Defaults of a kind (PCM: aihwkit's PCMLikeNoiseModel constants; RRAM: the rram profile's). */
void nm_device_params_default(nm_device_kind kind, nm_device_params *p);
/* Reads a measured device table: text lines "target mean std" (units of g_max, '#' starts
** a comment), targets strictly ascending, 2..NM_DEV_MAX_TABLE rows, std >= 0. Errors name
** the file and line. */
nm_status nm_device_table_load(const char *path, nm_device_params *p);

typedef struct nm_device nm_device;

/* A device model is this small vtable; a user adds one with nm_device_custom. Per-device
** draws must be keyed by (seed, stream, device index) so they do not depend on threads. */
typedef struct nm_device_ops {
    const char *name;
    int         n_state;   /* floats of per-device state kept from programming (e.g. a drift exponent) */
    /* n devices programmed to targets (units of g_max, already quantized): g_prog and state
    ** (n * n_state floats, device-major). */
    void (*program)(const nm_device *d, const float *target, int64_t n, uint64_t seed, uint64_t stream,
                    float *g_prog, float *state);
    /* Conductance t >= 0 s after programming, including draws fixed for that time (PCM's
    ** accumulated 1/f noise), without the fresh noise of one read. */
    void (*at_time)(const nm_device *d, const float *g_prog, const float *state, int64_t n, double t, uint64_t seed,
                    uint64_t stream, float *g);
    /* Std (units of g_max) of the fresh noise of one read of a device at conductance g. */
    float (*read_sigma)(const nm_device *d, float g);
    void (*destroy)(void *ctx);   /* frees ctx; may be NULL */
} nm_device_ops;

struct nm_device {
    const nm_device_ops *ops;
    nm_device_params     p;     /* built-in kinds */
    void                *ctx;   /* custom kinds   */
};

/* Checks p (every field of its kind: ranges, finiteness, ascending tables; the message
** names the field) and makes the device. */
nm_status nm_device_create(const nm_device_params *p, nm_device **out);
nm_status nm_device_custom(const nm_device_ops *ops, void *ctx, nm_device **out);
void      nm_device_destroy(nm_device *d);   /* accepts NULL */

/* Rounds targets to the device's levels (no-op for analog devices), clamped to [0, 1]. */
void nm_device_quantize(const nm_device *d, const float *target, int64_t n, float *out);
/* Quantize, program and read at time t: n fresh devices of one sample. g gets the read
** conductances (with one read's noise). For `neuromorph device sample`. */
nm_status nm_device_sample(const nm_device *d, const float *target, int64_t n, double t, uint64_t seed, float *g);

/* PCM's deterministic formulas (aihwkit PCMLikeNoiseModel), x = g / g_max, for tests and
** documentation: programming sigma (uS), drift exponent mean and spread, 1/f factor Q_s. */
double nm_pcm_prog_sigma_us(const nm_device_params *p, double x);
double nm_pcm_nu_mean(double x);
double nm_pcm_nu_std(double x);
double nm_pcm_q_s(double x);
/* sqrt(ln((t + t0 + t_read) / (2 t_read))): the growth of the accumulated 1/f noise. */
double nm_pcm_read_growth(const nm_device_params *p, double t);

/* Standard normals at (seed, stream, index): z[0], z[1] from one Philox block. */
void nm_hw_normal2(uint64_t seed, uint64_t stream, uint64_t index, float z[2]);

/* ---- crossbar tiles ------------------------------------------------------ */

typedef enum {
    NM_INSCALE_ABSMAX   = 0,   /* each input vector divided by its largest |x| before the DAC */
    NM_INSCALE_CONSTANT = 1    /* inputs used as they are, clipped to +-dac_range            */
} nm_input_scaling;

typedef struct nm_xbar_config {
    int   tile_rows, tile_cols;   /* inputs x outputs per tile (default 256 x 256)               */
    int   n_pairs;                /* differential pairs per weight, 1..4 (default 1)              */
    float pair_base;              /* significance ratio of consecutive pairs (default 4)          */
    nm_input_scaling input_scaling;
    int   dac_bits;               /* signed input DAC resolution; 0: ideal (default 0)            */
    float dac_range;              /* input clip after scaling (default 1)                          */
    int   adc_bits;               /* signed output ADC resolution per tile; 0: ideal (default 0)  */
    float adc_range;              /* ADC clip, in units of (g_max x full-scale input), aihwkit's
                                  ** out_bound (default 12)                                        */
    float adc_noise;              /* Gaussian std at each tile output before the ADC, same units  */
    float ir_drop;                /* first-order IR-drop scale, 0: none (aihwkit's ir_drop)        */
    float ir_g_ratio;             /* 1 / (R_wire G_device) (default 5.714e5, aihwkit)              */
} nm_xbar_config;

void nm_xbar_config_default(nm_xbar_config *c);
nm_status nm_xbar_config_check(const nm_xbar_config *c);   /* message names the field */

typedef struct nm_xbar nm_xbar;

/* A weight matrix (n_out, n_in) split over tiles of tile_rows inputs x tile_cols outputs,
** each weight a differential pair (G+, G-) of `dev` (borrowed; outlives the crossbar). */
nm_status nm_xbar_create(const nm_xbar_config *cfg, const nm_device *dev, int64_t n_out, int64_t n_in, nm_xbar **out);
void      nm_xbar_destroy(nm_xbar *xb);   /* accepts NULL */
int64_t   nm_xbar_n_tiles(const nm_xbar *xb);

/* Programs W (n_out, n_in): scale = max|W| -> g_max, targets per pair, the device's
** programming draws keyed by (seed, stream). Leaves the clock at t = 0. */
nm_status nm_xbar_program(nm_xbar *xb, const float *W, uint64_t seed, uint64_t stream);
/* Writes only the weights that moved: those with |W - W_last| > tol x scale are programmed
** afresh (draws keyed by `seed` and the crossbar's stream) and copied into W_last; every
** other device keeps its conductance. The scale stays that of the last nm_xbar_program: a
** weight beyond it saturates its device at g_max. *n_written (may be NULL): the weights
** written. Leaves the clock at t = 0. NM_INVAL before a first programming or for a bad tol
** or W. */
nm_status nm_xbar_reprogram(nm_xbar *xb, const float *W, float *W_last, float tol, uint64_t seed, int64_t *n_written);
/* Moves the clock to t seconds after programming: conductances drift / relax (draws keyed
** by the programming seed, so the device population stays the same). */
nm_status nm_xbar_set_time(nm_xbar *xb, double t);
double    nm_xbar_time(const nm_xbar *xb);

/* y (m, n_out) = analog x (m, n_in) W^T, no bias: input scaling and DAC, per tile the
** product with the present conductances, IR drop, fresh read noise and ADC noise, the ADC,
** then the digital sum over tiles and the scale back to weight units. The read noise of
** row r comes from (seed, read_id, r): the same read_id gives the same noise. */
void nm_xbar_forward(nm_xbar *xb, const float *x, int64_t m, float *y, uint64_t read_id);
/* The same rows x (m, n_in) read `reps` times, y (reps, m, n_out): read k of row i has the
** noise of row k m + i of nm_xbar_forward on x repeated reps times (and equals it up to
** float rounding), but the products are computed once: a constant input read at every
** time step costs one product and reps draws of noise. */
void nm_xbar_forward_rep(nm_xbar *xb, const float *x, int64_t m, int reps, float *y, uint64_t read_id);
/* The transposed read through the same arrays: y (m, n_in) = x (m, n_out) W, inputs on the
** columns, the same converters and noise. */
void nm_xbar_backward(nm_xbar *xb, const float *x, int64_t m, float *y, uint64_t read_id);

/* The weights the arrays hold now, (n_out, n_in): sum over pairs of F_k (G+ - G-) scaled
** back to weight units, without read noise or drift-compensation factors. Borrowed, valid
** until the next program/set_time. */
const float *nm_xbar_weights(const nm_xbar *xb);
/* Conductances of the first pair now, (n_out, n_in) each, units of g_max (either may be NULL). */
void nm_xbar_conductances(const nm_xbar *xb, float *g_plus, float *g_minus);

/* Drift compensation (aihwkit's GlobalDriftCompensation, and a per-column variant). Right
** after programming the crossbar reads a reference: the common-mode read of an all-ones
** input, both devices of every pair driven with the same sign, so a column's reference is
** its summed conductance sum_j sum_k F_k (G+ + G-), which never cancels. At every set_time
** it reads the reference again and every later read's outputs are scaled digitally by
** ref_0 / ref_t: one factor from the sums over all columns (GLOBAL) or one per output
** column (COLUMN). The reference reads carry the read noise and ADC noise of a real read
** (drawn from their own stream). A uniform drift G(t) = k G(0) is undone exactly. */
typedef enum {
    NM_DRIFT_COMP_NONE   = 0,
    NM_DRIFT_COMP_GLOBAL = 1,
    NM_DRIFT_COMP_COLUMN = 2
} nm_drift_comp;

const char *nm_drift_comp_name(nm_drift_comp m);
nm_status   nm_drift_comp_parse(const char *s, nm_drift_comp *out);   /* none global column */
/* Sets the mode; NONE removes the scaling. The t = 0 reference is read at every programming
** whatever the mode, so a mode set later (at t > 0) still compares with the state right
** after programming. */
nm_status   nm_xbar_set_drift_comp(nm_xbar *xb, nm_drift_comp mode);
/* The present scale factors (n_out; all equal for GLOBAL, all 1 for NONE). Borrowed. */
const float *nm_xbar_drift_scale(const nm_xbar *xb);

/* ---- analog neurons -------------------------------------------------------- */

/* Fixed-pattern mismatch of analog neurons: relative spreads (tau, gain) and spreads in
** units of (v_th - v_leak) for potentials; one draw per neuron and chip sample. */
typedef struct nm_neuron_mismatch {
    float tau_mem, tau_syn, v_th, v_leak, gain;
    float noise;            /* temporal membrane noise, std per step, units of (v_th - v_leak) */
    int   trim_bits;        /* calibration trim DAC (0: uncalibrated)                            */
    float trim_range;       /* the trim reaches +- trim_range x the parameter's spread x 4       */
    float calib_noise;      /* measurement noise of the calibration, relative to the spread     */
} nm_neuron_mismatch;

/* Per-neuron relative deviations of one population: multiply tau and gain by (1 + d),
** add d (v_th - v_leak) to potentials. */
typedef struct nm_neuron_draw {
    float *tau_mem, *tau_syn, *v_th, *v_leak, *gain;   /* n each */
    int64_t n;
} nm_neuron_draw;

/* Draws the mismatch of n neurons keyed by (seed, stream) and, when trim_bits > 0,
** calibrates it: each deviation is trimmed by the nearest step of a trim_bits DAC over
** +- trim_range (measured with calib_noise), leaving the residual a real trim leaves. */
nm_status nm_neuron_draw_create(const nm_neuron_mismatch *m, int64_t n, uint64_t seed, uint64_t stream,
                                nm_neuron_draw **out);
void      nm_neuron_draw_destroy(nm_neuron_draw *d);   /* accepts NULL */
/* The largest deviation calibration leaves for a raw deviation inside the trim range
** (half a trim step, plus the measurement noise): for tests and `chip show`. */
float     nm_neuron_trim_step(const nm_neuron_mismatch *m, float spread);

/* ---- chip profiles ---------------------------------------------------------- */

#define NM_PROFILE_MAX_ENERGY 16

typedef struct nm_chip_profile {
    char   name[32];
    char   description[256];
    int    analog;              /* 1: weights live in crossbars of `device`; 0: digital      */
    nm_device_params   device;
    nm_xbar_config     xbar;
    int    weight_bits;         /* digital weight resolution (0: float); sign included          */
    int    has_mismatch;        /* analog neurons                                                */
    nm_neuron_mismatch neuron;
    /* the chip's size, for the mapping issue */
    int    cores, neurons_per_core, axons_per_core;
    double time_scale;          /* emulation speed-up over biological time (1: real time)       */
    /* per-operation energies (pJ) and static power (W), named as in the file */
    int    n_energy;
    char   energy_name[NM_PROFILE_MAX_ENERGY][32];
    double energy_value[NM_PROFILE_MAX_ENERGY];
    /* optional size fields for the mapping (module map); 0 when absent: synapse memory per
    ** core (0: neurons x axons), the 2-d mesh of cores (0: about square), and whether a
    ** neuron's inputs may be split over cores with partial sums added (-1: absent) */
    int    synapses_per_core, mesh_x, mesh_y, fan_in_split;
} nm_chip_profile;

/* Loads a profile by name ("pcm": profiles/pcm.json from the profile directories) or by
** path (anything with a '/' or ending in ".json"). Directories, in order: $NM_PROFILE_DIR,
** ../profiles and ../share/neuromorph/profiles beside the executable, then the build's
** source tree. Every field is checked: a missing or out-of-range field is an error naming
** the file and the field. */
nm_status nm_chip_profile_load(const char *name_or_path, nm_chip_profile *out);
/* Names of the profiles found (ideal, rram, ...), for `chip list` and messages. */
nm_status nm_chip_profile_list(char names[][32], int max, int *n);
void      nm_chip_profile_print(const nm_chip_profile *p, FILE *f);
void      nm_chip_profile_report(const nm_chip_profile *p, nm_report *r, const char *key);

/* ---- a chip sample ----------------------------------------------------------------- */

typedef struct nm_chip nm_chip;

/* Realizes g on profile p: every weight layer programmed onto crossbars (analog profiles) or
** quantized to weight_bits (digital), every LIF/IF/LI population given its mismatch draw,
** all fixed by `seed`. The graph is borrowed and must outlive the chip. NM_UNSUPPORTED
** naming the node for what a chip cannot hold yet. */
nm_status nm_chip_realize(const nm_graph *g, const nm_chip_profile *p, uint64_t seed, nm_chip **out);
void      nm_chip_destroy(nm_chip *c);   /* accepts NULL */
/* Re-programs every layer from the graph's present weights (new programming draws). */
nm_status nm_chip_program(nm_chip *c);
/* How the update hook (training in the loop) writes a layer that learned: tol 0 (the
** default) re-programs the whole layer with fresh draws; tol > 0 only the weights that
** moved by more than tol x the layer's scale since they were last written (the others keep
** their conductances, as a chip updated by pulses would). Analog layers; digital ones are
** re-rounded whole. NM_INVAL unless 0 <= tol < 1. */
nm_status nm_chip_set_reprogram_tol(nm_chip *c, float tol);
/* Device time since programming, seconds (drift). */
nm_status nm_chip_set_time(nm_chip *c, double t);
/* Hooks that make an executor run on this chip (for nm_train_config.hooks or
** nm_exec_set_hooks). The chip must outlive the executor's use of them. */
void      nm_chip_hooks(nm_chip *c, nm_exec_hooks *h);
/* A crossbar of a weight node (NULL for others or digital chips). */
nm_xbar  *nm_chip_xbar(const nm_chip *c, int node);

/* Layer `node` on the chip (on = 1, after realize: all) or in ideal software (0): progressive
** fine-tuning puts a network on the chip layer by layer. NM_RANGE for a node that holds no
** weights or populations on the chip. */
nm_status nm_chip_set_active(nm_chip *c, int node, int on);
/* Drift compensation on every crossbar (NM_UNSUPPORTED naming the profile for digital chips). */
nm_status nm_chip_set_drift_comp(nm_chip *c, nm_drift_comp mode);
const nm_chip_profile *nm_chip_get_profile(const nm_chip *c);

/* ---- training for hardware ------------------------------------------------------------- */

/* The device-noise callback of nm_weight_noise (ctx: an nm_device_noise): maps a layer with
** its max|W| at g_max onto differential pairs, programs them with the device's draws keyed by
** (seed, key, node) and reads them back at t = 0 without read noise; the deviation from the
** target weight is multiplied by `scale`. */
typedef struct nm_device_noise {
    const nm_device *dev;
    float            scale;   /* 1: the device model's programming noise */
    uint64_t         seed;
} nm_device_noise;
nm_status nm_device_noise_fn(void *ctx, int node, const float *w, int64_t n, uint64_t key, float *out);

/* In-situ learning: the optimizer's steps written through device update rules.
**
** PULSED: every weight is a device pair updated by pulses (the common update models of
** aihwkit's pulsed devices). A step delta becomes n = delta / dw_min pulses (stochastic
** rounding), each moving w by dw_min (1 +- up_down) (up / down), times (1 - w / w_max) up and
** (1 + w / w_max) down with soft bounds (closed form over n pulses), with cycle-to-cycle
** noise c2c dw_min per pulse (sqrt(n) of it over n pulses), and a device-to-device spread of
** dw_min; weights in units of the layer's range, which is range x max|W| at creation.
**
** MIXED: the PCM + 3T1C synapse of Ambrogio et al. (Nature 2018): W = F (G+ - G-) + g -
** g_shared. Every step goes to the capacitor g (precise, volatile: its excess decays by
** cap_leak per transfer interval, and it saturates at +- cap_range); every transfer_every
** images the total weight of every synapse is moved to the PCM pair (programmed with the
** device's noise) and g is reset to g_shared. The pair's full scale F (G+ - G-) = F is the
** layer's range (range x max|W| at creation), so a transfer's noise is a fraction of the
** weights' span. Biases are digital in both: params += delta. */
typedef enum { NM_INSITU_PULSED = 0, NM_INSITU_MIXED = 1 } nm_insitu_kind;

typedef struct nm_insitu_config {
    nm_insitu_kind kind;
    float    range;          /* layer range = range x max|W| at creation (default 2); MIXED:
                             ** the PCM pair's full scale                                      */
    /* PULSED */
    float    dw_min;         /* mean step, units of the layer range (default 0.001)            */
    float    up_down;        /* asymmetry of up and down steps (0)                             */
    int      soft_bounds;    /* 1: steps shrink towards the bounds (1)                          */
    float    dw_min_dtod;    /* device-to-device spread of dw_min, relative (0.3)               */
    float    c2c;            /* cycle-to-cycle noise per pulse, relative to dw_min (0.3)         */
    /* MIXED */
    float    gain;           /* F: the PCM pair's significance over the capacitor (3)           */
    int64_t  transfer_every; /* images between transfers (8000)                                 */
    float    cap_range;      /* capacitor reach, units of the layer range (0.5)                 */
    float    cap_leak;       /* fraction of the capacitor's excess lost per interval (0)        */
    /* MIXED closed-loop transfer: a pair is re-programmed only when its capacitor holds at
    ** least transfer_min, then read back and programmed again (at most verify_iters
    ** times) until F (G+ - G-) is within verify_tol of its target. verify_iters 0: every
    ** pair re-programmed once, unread (open loop). Units of R. */
    int      verify_iters;   /* (5)    */
    float    verify_tol;     /* (0.08) */
    float    transfer_min;   /* (0.08) */
    uint64_t seed;
} nm_insitu_config;

void      nm_insitu_config_default(nm_insitu_kind kind, nm_insitu_config *c);
nm_status nm_insitu_config_check(const nm_insitu_config *c);   /* message names the field */

typedef struct nm_insitu nm_insitu;

/* Takes the present weights of g as the devices' starting state (MIXED programs them onto
** the PCM pairs of `dev`, which must outlive the learner; PULSED ignores dev, may be NULL).
** The graph's weights are overwritten with what the devices hold. */
nm_status nm_insitu_create(nm_graph *g, const nm_insitu_config *cfg, const nm_device *dev, nm_insitu **out);
void      nm_insitu_destroy(nm_insitu *s);   /* accepts NULL */
void      nm_insitu_hooks(nm_insitu *s, nm_update_hooks *h);
/* MIXED: moves every capacitor's value to its PCM pair now and writes the resulting
** weights to params (the graph's). For tests and the end of training. */
nm_status nm_insitu_transfer(nm_insitu *s, float *params);
/* Transfers and updates done so far. */
int64_t   nm_insitu_transfers(const nm_insitu *s);

/* Parses "1s", "250ms", "1h", "1d", "1y", "3.5e4" (seconds) into seconds. */
nm_status nm_parse_duration(const char *s, double *out);
/* "1 s", "1 h", "1 d", "1 y": the shortest exact form of a duration. */
void      nm_format_duration(double t, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
