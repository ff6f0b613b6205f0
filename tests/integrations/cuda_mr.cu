// CudaResource tests compiled by nvcc (target test_cuda_mr_nvcc); the cases are
// in cuda_mr.inl.
#include "cuda_mr.inl"
