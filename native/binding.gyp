{
  "targets": [
    {
      "target_name": "lora_studio_cpu",
      "sources": [
        "src/addon.cc",
        "src/addon-fused.cc",
        "src/blas.cc",
        "src/pool.cc",
        "src/decode.cc",
        "src/gemm.cc",
        "src/attention.cc",
        "src/elementwise.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_DISABLE_CPP_EXCEPTIONS", "NAPI_VERSION=8"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-O3", "-ffp-contract=off", "-fno-math-errno", "-Wall", "-Wno-unused-function"],
      "libraries": ["-ldl", "-lpthread"],
      "xcode_settings": {
        "OTHER_CPLUSPLUSFLAGS": ["-std=c++17", "-O3", "-ffp-contract=off"],
        "MACOSX_DEPLOYMENT_TARGET": "11.0"
      }
    }
  ]
}
