/*
 * fuzz_engine.h: for the fuzz targets that run policyd's engine in process
 * (fuzz_egress.c, fuzz_egress6.c). policyd's engine has no free function
 * (policyd frees nothing before it exits); a fuzz target runs it once per
 * input, so it frees what loading rules into it allocated.
 */
#ifndef MOAT_FUZZ_ENGINE_H
#define MOAT_FUZZ_ENGINE_H

#include <stdlib.h>

#include "policyd/engine.h"

static inline void
fuzz_engine_free(struct engine *pe)
{
	unsigned i;

	for (i = 0; i < ENG_MAX_QSETS; i++)
		if (pe->qsets[i] != NULL) {
			rset_free(&pe->qsets[i]->set);
			free(pe->qsets[i]);
		}
	rset_free(&pe->json);
	engine_free_names(pe);
}

#endif
