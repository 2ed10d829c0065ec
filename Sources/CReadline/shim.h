// CReadline: GNU readline (Debian libreadline-dev). Swift 6 rejects access to imported mutable
// C globals (rl_*), so the ones QATLab touches have static inline setters/getters here.
#pragma once
#include <stdio.h>
#include <readline/readline.h>
#include <readline/history.h>
static inline void qat_rl_set_attempted_completion(rl_completion_func_t *f) { rl_attempted_completion_function = f; }
static inline void qat_rl_set_attempted_completion_over(int v) { rl_attempted_completion_over = v; }
static inline void qat_rl_set_readline_name(const char *name) { rl_readline_name = name; }
static inline int  qat_rl_history_length(void) { return history_length; }
// Line-buffered stdout, so progress lines reach a pipe or a log file as they are printed.
static inline void qat_line_buffer_stdout(void) { setvbuf(stdout, NULL, _IOLBF, 0); }
static inline void qat_rl_set_completion_suppress_append(int v) { rl_completion_suppress_append = v; }
