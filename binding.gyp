{
  # The same sources as CMakeLists.txt (the main build), for node-gyp users. libtorch's
  # location comes from the same finder (scripts/find-libtorch.mjs), so the builds agree.
  "targets": [
    {
      "target_name": "torchloop",
      "sources": [
        "native/core/cuda_graph.cc",
        "native/core/distributed.cc",
        "native/core/errors.cc",
        "native/core/interpreter.cc",
        "native/core/model.cc",
        "native/core/package.cc",
        "native/core/package_runner.cc",
        "native/core/plan.cc",
        "native/core/static_runtime.cc",
        "native/core/runtime.cc",
        "native/core/step.cc",
        "native/core/pacer.cc",
        "native/core/trainer.cc",
        "native/core/validate.cc",
        "native/napi/addon.cc",
        "native/napi/convert.cc",
        "native/napi/errors.cc",
        "native/napi/model_wrap.cc",
        "native/napi/step_wrap.cc",
        "native/napi/pacer_wrap.cc",
        "native/napi/process_group_wrap.cc",
        "native/napi/trainer_wrap.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native",
        "<!@(node scripts/find-libtorch.mjs --include)",
        "<!(node scripts/find-libtorch.mjs --gloo-include)"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
        "USE_C10D_GLOO",
        "<!(node scripts/find-libtorch.mjs --gloo-define)",
        "_GLIBCXX_USE_CXX11_ABI=<!(node scripts/find-libtorch.mjs --cxx-abi)"
      ],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++14", "-std=gnu++1y"],
      "cflags_cc": ["-std=c++<!(node scripts/find-libtorch.mjs --cxx-std)", "-fexceptions", "-frtti", "-O3"],
      "libraries": [
        "-L<!(node scripts/find-libtorch.mjs --lib-dir)",
        "-Wl,-rpath,<!(node scripts/find-libtorch.mjs --lib-dir)",
        "-ltorch",
        "-ltorch_cpu",
        "-lc10",
        "-ldl"
      ]
    }
  ]
}
