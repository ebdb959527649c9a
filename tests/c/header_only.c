/* Compiled alone as C11 and as C++17 by run.sh: proves singlewriter.h is self-contained. */
#include "singlewriter.h"

int header_only_probe(void);
int header_only_probe(void) {
    sw_value v = {SW_TYPE_INTEGER, 1, 0.0, 0, 0};
    sw_param p = {0, v};
    sw_statement st = {"SELECT 1", &p, 1};
    sw_write_result r = {0, 0};
    sw_signal_callback cb = 0;
    sw_txn_fn fn = 0;
    sw_write_callback wcb = 0;
    sw_userdata_free uf = 0;
    (void)cb;
    (void)fn;
    (void)wcb;
    (void)uf;
    (void)r;
    return (int)(st.n_params + SW_ABI_VERSION + SW_STATUS_PANIC) + (int)sizeof(sw_stats) + (int)sizeof(sw_cache_stats);
}
