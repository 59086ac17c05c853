# `npm run bench -- gemm`'s reference: torch.matmul (OpenBLAS) on the same shapes and threads, f32.
# python3 torch_gemm.py THREADS N SHAPES(rows x cols, comma-separated) → one JSON line: ms per product, per shape and
# direction (x·Wᵀ and dy·W, as a frozen linear layer's forward and backward).
import json, sys, time
import torch

threads, n, shapes = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].split(',')
torch.set_num_threads(threads)
out = {}
with torch.no_grad():
    for shape in shapes:
        rows, cols = map(int, shape.split('x'))
        w = torch.randn(rows, cols)
        x = torch.randn(n, cols)
        dy = torch.randn(n, rows)
        for name, f in (('xwt', lambda: torch.matmul(x, w.t())), ('dyw', lambda: torch.matmul(dy, w))):
            f()
            reps, start = 0, time.perf_counter()
            while reps < 3 or time.perf_counter() - start < 0.5:
                f()
                reps += 1
            out[f'{shape} {name}'] = (time.perf_counter() - start) / reps * 1000
print(json.dumps({'ms': out, 'threads': torch.get_num_threads()}))
