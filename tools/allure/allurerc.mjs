// Allure Report 3 configuration: one self-contained HTML file (awesome plugin, singleFile).
// Failure categories come from the results' categories.json (written by fixtures/evidence.py):
// Allure 3 reads them from this config, not from the results directory.
import { existsSync, readFileSync } from "node:fs";
import { defineConfig } from "allure";

const categoriesFile = process.env.REPORT_RESULTS && `${process.env.REPORT_RESULTS}/categories.json`;
const categories = categoriesFile && existsSync(categoriesFile)
  ? JSON.parse(readFileSync(categoriesFile, "utf8"))
  : undefined;

export default defineConfig({
  name: process.env.REPORT_NAME || "Talos runbook",
  output: process.env.REPORT_OUTPUT || "./allure-report",
  categories,
  plugins: {
    awesome: {
      options: {
        singleFile: true,
        reportLanguage: "en",
        groupBy: ["parentSuite", "suite"],
      },
    },
  },
});
