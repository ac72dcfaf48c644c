// :core: everything of the app that can be wrong without a phone (manifests, samples, packing,
// the full-resolution plan, PSNR, latency statistics, the profile result JSON), in plain
// Kotlin/JVM with no Android API. Its tests read the golden fixtures camkit writes
// (`camkit app fixtures`); scripts/android_core_test.sh builds and runs the same sources
// without Gradle (kotlinc from npm, Gson and JUnit from Debian).
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    alias(libs.plugins.kotlin.jvm)
}

java {
    sourceCompatibility = JavaVersion.VERSION_17
    targetCompatibility = JavaVersion.VERSION_17
}

kotlin {
    compilerOptions {
        jvmTarget.set(JvmTarget.JVM_17)
        allWarningsAsErrors.set(true)
    }
}

dependencies {
    implementation(libs.gson)
    testImplementation(libs.junit.jupiter)
    testRuntimeOnly(libs.junit.platform.launcher)
}

// The golden fixtures are the test resources: written by `camkit app fixtures` (the repo's
// .venv, else `camkit` on PATH) into build/camkit-fixtures, or an existing folder given with
// -Pcamkit.fixtures=DIR. The tests fail, not skip, without them.
val givenFixtures = providers.gradleProperty("camkit.fixtures")
val writtenFixtures = layout.buildDirectory.dir("camkit-fixtures")
val fixturesDir: Provider<File> = givenFixtures.map { file(it) }.orElse(writtenFixtures.map { it.asFile })

val camkitFixtures by tasks.registering(Exec::class) {
    description = "Writes camkit's golden fixtures (camkit app fixtures) for the :core tests."
    val venvCamkit = rootProject.layout.projectDirectory.file("../.venv/bin/camkit").asFile
    executable = if (venvCamkit.canExecute()) venvCamkit.path else "camkit"
    args("app", "fixtures", writtenFixtures.get().asFile.path, "--overwrite")
    inputs.files(rootProject.layout.projectDirectory.dir("../toolkit").asFileTree.matching {
        include("app_fixtures*.py", "fullres.py", "artifacts.py", "profilers/host_profile.py")
    })
    outputs.dir(writtenFixtures)
    onlyIf { !givenFixtures.isPresent }
}

sourceSets.test {
    resources.srcDir(fixturesDir)
}

tasks.processTestResources {
    dependsOn(camkitFixtures)
}

tasks.test {
    useJUnitPlatform()
    dependsOn(camkitFixtures)
    systemProperty("camkit.fixtures", fixturesDir.get().path)
    // the benchmark tests' profile result JSON: tests/test_android_core.py validates such files
    systemProperty("camkit.contract.out", layout.buildDirectory.dir("contract").get().asFile.path)
}
