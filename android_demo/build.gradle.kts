// Root project: the plugins every module uses, versions from gradle/libs.versions.toml.
// :app applies com.android.application with AGP 9's built-in Kotlin (no kotlin-android plugin)
// and the Compose compiler plugin; declaring the Kotlin plugins here puts KGP 2.4.20 on the
// build classpath for both the built-in Kotlin of :app and the kotlin-jvm plugin of :core.
plugins {
    alias(libs.plugins.android.application) apply false
    alias(libs.plugins.kotlin.jvm) apply false
    alias(libs.plugins.kotlin.compose) apply false
}
