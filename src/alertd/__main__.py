from alertd.launch import main

main()
