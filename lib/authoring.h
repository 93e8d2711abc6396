/*
 * Internal interface between the decision (decision.c) and the rule
 * author's tools (authoring.c): evaluation traces and stand-alone
 * expressions. The decision owns one mp_aux, created only when a trace or
 * an expression evaluation first asks for it, so the normal path pays one
 * pointer test per evaluation and nothing per rule.
 */
#ifndef MIAOPI_AUTHORING_H
#define MIAOPI_AUTHORING_H

#include "model.h"

typedef struct mp_aux mp_aux;

/* ---- provided by authoring.c ---- */

mp_aux *miaopi__aux_new(void);
void miaopi__aux_free(mp_aux *a);
bool miaopi__aux_tracing(const mp_aux *a);
/* Record the trace of every rule of the evaluation that just finished
 * (slot cache still warm). why_en formats an unknown reason. */
void miaopi__trace_all(mp_aux *a, miaopi_decision *d, mp_eval *ev,
                       const miaopi_ruleset *rs);
/* The trace as a JSON array (new reference), or NULL. */
json_t *miaopi__trace_json(const mp_aux *a);

/* ---- provided by decision.c ---- */

/* The decision's aux state, created on first use; NULL on ENOMEM. */
mp_aux *miaopi__decision_aux(miaopi_decision *d, bool create);
/* The aux state if the decision holds a valid evaluation, else NULL. */
const mp_aux *miaopi__decision_valid_aux(const miaopi_decision *d);
/* Prepare the decision's working state to evaluate stand-alone
 * expressions of scope against case c (NULL: an empty case). The decision
 * date is taken from the case when it has a valid one; otherwise
 * context.decision_date is UNKNOWN (missing). Leaves the decision holding
 * no decision. */
int miaopi__decision_begin_expr(miaopi_decision *d,
                                const miaopi_ruleset *scope,
                                const miaopi_case *c, mp_eval **ev);
/* English reason for an UNKNOWN value, in the decision's arena. */
const char *miaopi__decision_why(miaopi_decision *d, mp_why why,
                                 const mp_node *where);

/* ---- provided by ruleset.c ---- */

int miaopi__ruleset_setup_pcre(miaopi_ruleset *rs,
                               const miaopi_load_options *o);

#endif
