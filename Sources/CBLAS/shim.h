// CBLAS: OpenBLAS's cblas.h (Debian libopenblas-dev). openblas_set_num_threads and
// openblas_get_num_threads are declared there too.
#pragma once
#include <cblas.h>

// LAPACK routines from the same libopenblas (Debian builds it with LAPACK; there is no lapacke.h,
// so the Fortran entry points are declared here). Column-major, arguments by pointer.
void spotrf_(const char *uplo, const int *n, float *a, const int *lda, int *info);
void spotri_(const char *uplo, const int *n, float *a, const int *lda, int *info);
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
void dpotri_(const char *uplo, const int *n, double *a, const int *lda, int *info);
// QR factorization and its explicit Q (QATQuant/Rotation.swift's Haar-random rotations).
void dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau, double *work, const int *lwork, int *info);
void dorgqr_(const int *m, const int *n, const int *k, double *a, const int *lda, const double *tau, double *work, const int *lwork, int *info);
