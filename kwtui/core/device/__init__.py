"""The ESP32 side: partition tables, serial ports, esptool, the model partition image, the serial monitor."""
