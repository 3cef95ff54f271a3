/*
** neuromorph: the workbench for neuromorphic computing. One header for the whole public API.
*/
#ifndef NEUROMORPH_H
#define NEUROMORPH_H

#include "base.h"
#include "data.h"
#include "neuron.h"
#include "model.h"
#include "run.h"
#include "train.h"
#include "hw.h"
#include "viz.h"
#include "map.h"

#endif
