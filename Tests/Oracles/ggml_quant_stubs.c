// The four ggml.c functions ggml-quants.c links against but the reference quantizers never call
// (they serve the importance-matrix and validation paths); they abort if reached.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
size_t ggml_row_size(int type, int64_t ne) { (void)type; (void)ne; abort(); }
void ggml_abort(const char *file, int line, const char *fmt, ...) { fprintf(stderr, "ggml_abort %s:%d %s\n", file, line, fmt); abort(); }
size_t ggml_type_size(int type) { (void)type; abort(); }
const char *ggml_type_name(int type) { (void)type; abort(); }
