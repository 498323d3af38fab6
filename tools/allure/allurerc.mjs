// Allure Report 3 configuration: one self-contained HTML file (awesome plugin, singleFile).
import { defineConfig } from "allure";

export default defineConfig({
  name: process.env.REPORT_NAME || "Talos runbook",
  output: process.env.REPORT_OUTPUT || "./allure-report",
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
