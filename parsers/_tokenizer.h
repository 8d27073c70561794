/*
 * What the compiled tokenizer's two files share: the types (a template, the spans of one
 * line's values, the kinds, emits and reasons) and walk_line. parsers/_tokenizer_walk.c walks
 * one line along a template; parsers/_tokenizer.c is the Python module, the dictionaries of
 * distinct values and the loop over a chunk's lines.
 */
#ifndef FOOTFALL_TOKENIZER_H
#define FOOTFALL_TOKENIZER_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Variable kinds: how a variable's value is matched (parsers/variables.py KIND_PATTERNS). */
enum {
    K_UNTIL = 0,     /* [^X]* where X is the first byte of the next literal */
    K_REST = 1,      /* .* (last variable, nothing after it) */
    K_QUOTED = 2,    /* [^"\\]*(?:\\.[^"\\]*)* */
    K_TIME_LOCAL = 3,
    K_TIME_ISO = 4,
    K_STATUS = 5,    /* [0-9]{3} */
    K_INT = 6,       /* [0-9]+|- */
    K_FLOAT = 7,     /* [0-9]+(?:\.[0-9]+)?|- */
    K_UPSTREAM = 8,  /* [^\s,]+(?:(?:, | : )[^\s,]+)* */
};

/* What to emit for a variable. */
enum { E_NONE = 0, E_INTERN = 1, E_TIME = 2, E_STATUS = 3, E_INT = 4 };

/* Tail modes: the text after the last variable. */
enum { T_PLAIN = 0, T_OPTIONAL_QUOTE = 1 };

/* Why a line is not an event, in the order they are checked (parsers/fast_path.py names them). */
enum { R_EVENT = 0, R_EMPTY = 1, R_TOO_LONG = 2, R_NO_MATCH = 3, R_INVALID_TIME = 4, R_FUTURE = 5 };

#define MAX_VARS 64

typedef struct {
    const unsigned char *lit;  /* literal before the variable */
    Py_ssize_t lit_len;
    int kind, emit, stop;      /* stop: first byte of the next literal, -1 if none */
} Var;

typedef struct {
    Var vars[MAX_VARS];
    int nvars;
    const unsigned char *tail;
    Py_ssize_t tail_len;
    int tail_mode;
    Py_ssize_t max_line;
    int64_t max_us; /* a later time is R_FUTURE */
} Template;
typedef struct {
    const unsigned char *start[MAX_VARS];
    const unsigned char *end[MAX_VARS];
} Spans;

/* GCC's and clang's: keep a function out of line, keep a symbol inside the extension. */
#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#define INTERNAL __attribute__((visibility("hidden")))
#else
#define NOINLINE
#define INTERNAL
#endif

/*
 * Walk one line [s, e) along the template. Returns R_EVENT when it is an event, with each
 * variable's span in sp, and the typed value of each emitted time, status and integer in values
 * (and aux: a time's offset minutes, an integer's validity); otherwise the reason it is not.
 */
INTERNAL int walk_line(const Template *t, const unsigned char *s, const unsigned char *e, Spans *sp, int64_t *values,
                       int16_t *aux);

#endif
