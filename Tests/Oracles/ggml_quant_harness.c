// Runs ggml's own reference quantizers (quantize_row_*_ref of ggml-quants.c; for iq4_nl
// quantize_iq4_nl without an importance matrix, the function llama.cpp's model quantizer calls:
// quantize_row_iq4_nl_ref does no scale search) on float32 values read from stdin and writes the
// block bytes to stdout. Built and run by ggml_quant_golden.py
// against a ggml source tree; nothing in the suite builds it.
//   usage: ggml_quant_harness FORMAT COUNT < values.f32 > blocks.bin
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ggml-quants.h"

typedef void (*quantize_fn)(const float *, void *, int64_t);

struct row { const char *name; int block; int bytes; quantize_fn fn; };

// quantize_iq4_nl takes rows; the values as one row of k is the same blocks as any split into rows.
static void quantize_iq4_nl_one_row(const float *x, void *y, int64_t k) { quantize_iq4_nl(x, y, 1, k, NULL); }

static const struct row rows[] = {
    {"q4_0", 32, 18, (quantize_fn)quantize_row_q4_0_ref},
    {"q4_1", 32, 20, (quantize_fn)quantize_row_q4_1_ref},
    {"q5_0", 32, 22, (quantize_fn)quantize_row_q5_0_ref},
    {"q5_1", 32, 24, (quantize_fn)quantize_row_q5_1_ref},
    {"q8_0", 32, 34, (quantize_fn)quantize_row_q8_0_ref},
    {"q2_k", 256, 84, (quantize_fn)quantize_row_q2_K_ref},
    {"q3_k", 256, 110, (quantize_fn)quantize_row_q3_K_ref},
    {"q4_k", 256, 144, (quantize_fn)quantize_row_q4_K_ref},
    {"q5_k", 256, 176, (quantize_fn)quantize_row_q5_K_ref},
    {"q6_k", 256, 210, (quantize_fn)quantize_row_q6_K_ref},
    {"iq4_nl", 32, 18, quantize_iq4_nl_one_row},
};

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s FORMAT COUNT\n", argv[0]); return 1; }
    long n = atol(argv[2]);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        if (strcmp(rows[i].name, argv[1]) != 0) continue;
        if (n <= 0 || n % rows[i].block != 0) { fprintf(stderr, "COUNT must be a positive multiple of %d\n", rows[i].block); return 1; }
        float *x = malloc(n * sizeof(float));
        size_t bytes = (size_t)(n / rows[i].block) * rows[i].bytes;
        unsigned char *y = calloc(bytes, 1);
        if (!x || !y || fread(x, sizeof(float), n, stdin) != (size_t)n) { fprintf(stderr, "short input\n"); return 1; }
        rows[i].fn(x, y, n);
        return fwrite(y, 1, bytes, stdout) == bytes ? 0 : 1;
    }
    fprintf(stderr, "unknown format %s\n", argv[1]);
    return 1;
}
