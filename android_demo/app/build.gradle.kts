// :app, the camkit demo: Jetpack Compose over :core. Written against the versions pinned in
// gradle/libs.versions.toml (AGP 9.4 with its built-in Kotlin, so no kotlin-android plugin;
// the Compose compiler plugin comes from Kotlin 2.4.20). Not compiled where it was written (no
// Android SDK there): see android_demo/README.md.
plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.compose)
}

android {
    namespace = "dev.camkit.demo"
    compileSdk = 36

    defaultConfig {
        applicationId = "dev.camkit.demo"
        // minSdk 29 (Android 10): PowerManager.getCurrentThermalStatus(), the thermal state the
        // benchmark records before and after every run, exists from API 29; ImageDecoder (28)
        // decodes picked photos with their EXIF rotation applied. Everything else needs less:
        // LiteRT's CompiledModel 23-24, ONNX Runtime Android 24, CameraX 23, the Photo Picker
        // contract 19+. Build.SOC_MODEL (31) is read only where it exists.
        minSdk = 29
        targetSdk = 36
        versionCode = 1
        versionName = "0.1.0"
        // The runtime versions a result reports are the ones this APK was built with.
        buildConfigField("String", "LITERT_VERSION", "\"${libs.versions.litert.get()}\"")
        buildConfigField("String", "ORT_VERSION", "\"${libs.versions.onnxruntime.get()}\"")
    }

    flavorDimensions += "ort"
    productFlavors {
        create("standard") {
            dimension = "ort"
            buildConfigField("boolean", "ORT_QNN", "false")
        }
        create("qnn") {
            dimension = "ort"
            buildConfigField("boolean", "ORT_QNN", "true")
        }
    }

    buildTypes {
        release {
            isMinifyEnabled = false  // JNI-heavy runtimes (LiteRT, ORT) and no keep rules here
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    buildFeatures {
        compose = true
        buildConfig = true
    }

    // Models never ship in the APK: `camkit app push` copies them into the app's external files
    // dir. Should anyone add one as an asset anyway, it stays uncompressed (mmap-able).
    androidResources {
        noCompress += listOf("tflite", "onnx")
    }

    packaging {
        jniLibs {
            // Extract native libraries to nativeLibraryDir: LiteRT's BuiltinNpuAcceleratorProvider
            // loads the NPU dispatch libraries from there, and QNN's HTP backend loads its
            // libraries by path.
            useLegacyPackaging = true
        }
    }
}

dependencies {
    implementation(project(":core"))

    implementation(libs.kotlinx.coroutines.android)
    implementation(libs.androidx.core.ktx)
    implementation(libs.androidx.activity.compose)
    implementation(libs.androidx.lifecycle.runtime.compose)
    implementation(libs.androidx.lifecycle.viewmodel.compose)
    implementation(platform(libs.androidx.compose.bom))
    implementation(libs.androidx.compose.ui)
    implementation(libs.androidx.compose.foundation)
    implementation(libs.androidx.compose.material3)

    implementation(libs.androidx.camera.core)
    implementation(libs.androidx.camera.camera2)
    implementation(libs.androidx.camera.lifecycle)
    implementation(libs.androidx.camera.view)

    implementation(libs.litert)
    implementation(libs.litert.gpu)

    "standardImplementation"(libs.onnxruntime.android)
    "qnnImplementation"(libs.onnxruntime.android.qnn)
}
