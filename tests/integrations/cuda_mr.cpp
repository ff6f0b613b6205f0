// CudaResource tests compiled by the host compiler with the CCCL include path
// (target test_cuda_mr); the cases are in cuda_mr.inl.
#include "cuda_mr.inl"
