/*
** learn_impl.h: what ann.c, convert.c, stdp.c and evolve.c share inside module train.
*/
#ifndef NM_TRAIN_LEARN_IMPL_H
#define NM_TRAIN_LEARN_IMPL_H

#include <neuromorph/train.h>

#include <stdlib.h>

/* NM_UNSUPPORTED naming the first node that has no ANN form (recurrent, Delay, Scale). */
nm_status nm__ann_check(const nm_graph *g);
/* NM_SHAPE when d's images or classes do not fit g ("the training set has ..."). */
nm_status nm__check_data(const nm_graph *g, const nm_dataset *d, const char *what);

#endif
