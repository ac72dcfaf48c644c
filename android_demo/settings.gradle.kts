// camkit's Android project: :core (plain Kotlin/JVM, no Android API; also compiled and tested
// without Gradle by scripts/android_core_test.sh) and :app (Jetpack Compose, thin over :core).
//
// :app has two product flavors on one dimension, "ort":
//   standard  onnxruntime-android      (ORT CPU, XNNPACK and NNAPI execution providers)
//   qnn       onnxruntime-android-qnn  (the same, plus the QNN execution provider for
//                                       Qualcomm HTP; backend ort-qnn runs only in this flavor)
// Both install as dev.camkit.demo, so the host side (camkit app push, camkit profile
// android-app) drives either; install one at a time: ./gradlew :app:installStandardDebug or
// ./gradlew :app:installQnnDebug.

pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()        // AGP, AndroidX, CameraX, LiteRT (com.google.ai.edge.litert)
        mavenCentral()  // Kotlin, coroutines, ONNX Runtime, Gson, JUnit
    }
}

rootProject.name = "camkit-android"
include(":core", ":app")
