// CHDF5: HDF5 1.10 C API (Debian libhdf5-dev, serial).
// Swift 6 cannot use the H5T_NATIVE_*, H5P_*, H5F_ACC_* macros (they expand to mutable
// globals or comma expressions), so each one we need is re-exported as a static inline getter.
#pragma once
#include <hdf5.h>
static inline hid_t qat_h5t_native_float(void)  { return H5T_NATIVE_FLOAT; }
static inline hid_t qat_h5t_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t qat_h5t_native_int32(void)  { return H5T_NATIVE_INT32; }
static inline hid_t qat_h5t_native_int64(void)  { return H5T_NATIVE_INT64; }
static inline hid_t qat_h5t_native_uint8(void)  { return H5T_NATIVE_UINT8; }
static inline hid_t qat_h5t_native_int8(void)   { return H5T_NATIVE_INT8; }
static inline hid_t qat_h5t_native_uint16(void) { return H5T_NATIVE_UINT16; }
static inline hid_t qat_h5t_ieee_f32le(void)    { return H5T_IEEE_F32LE; }
static inline hid_t qat_h5t_c_s1(void)          { return H5T_C_S1; }
static inline size_t qat_h5t_variable(void)     { return H5T_VARIABLE; }
static inline hid_t qat_h5p_default(void)       { return H5P_DEFAULT; }
static inline hid_t qat_h5s_all(void)           { return H5S_ALL; }
static inline hid_t qat_h5p_dataset_create(void){ return H5P_DATASET_CREATE; }
static inline hid_t qat_h5p_link_create(void)   { return H5P_LINK_CREATE; }
static inline hid_t qat_h5p_file_access(void)   { return H5P_FILE_ACCESS; }
static inline unsigned qat_h5f_acc_trunc(void)  { return H5F_ACC_TRUNC; }
static inline unsigned qat_h5f_acc_excl(void)   { return H5F_ACC_EXCL; }
static inline unsigned qat_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned qat_h5f_acc_rdwr(void)   { return H5F_ACC_RDWR; }
static inline hsize_t qat_h5s_unlimited(void)   { return H5S_UNLIMITED; }
// Silence HDF5's own error-stack printing; QATLab reports errors itself.
static inline void qat_h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }
