// CBLAS: OpenBLAS's cblas.h (Debian libopenblas-dev). openblas_set_num_threads and
// openblas_get_num_threads are declared there too.
#pragma once
#include <cblas.h>
